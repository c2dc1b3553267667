"""Unit tests of the message contracts (no services needed)."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.schemas import (AgencyIn, ReportIn, ReportSubmitted, ScreeningResult, WatchlistEntry,
                            WatchlistEntryIn)


def test_report_accepts_every_common_phone_form():
    forms = ["0812-3456-7890", "+62 812 3456 7890", "62812 3456 7890", "(0812) 3456 7890", "wa.me/6281234567890",
             "https://wa.me/6281234567890"]
    assert ReportIn(channel="whatsapp", phones=forms).phones == forms


@pytest.mark.parametrize("body, field", [
    ({"channel": "fax"}, ("channel",)),
    ({"channel": "web", "emails": ["nobody"]}, ("emails", 0)),
    ({"channel": "web", "victims": {"count": "many"}}, ("victims", "count")),
    ({"channel": "web", "reporter": {"name": "A", "nik": "3301"}}, ("reporter", "nik")),
    ({"channel": "web", "agency_names": ["x" * 201]}, ("agency_names", 0)),
    ({"channel": "web", "phones": ["1" * 80]}, ("phones", 0)),
])
def test_report_validation_names_the_field(body, field):
    with pytest.raises(ValidationError) as caught:
        ReportIn.model_validate(body)
    assert field in [err["loc"] for err in caught.value.errors()]


def test_kafka_messages_are_versioned_and_round_trip():
    report = ReportSubmitted(id="rpt_1", channel="web", received_at="2026-01-01T00:00:00Z", agency_names=["PT A"])
    assert report.schema_version == 1
    assert ReportSubmitted.model_validate_json(report.model_dump_json()) == report
    result = ScreeningResult(report_id="rpt_1", screened_at="2026-01-01T00:00:00Z")
    assert ScreeningResult.model_validate_json(result.model_dump_json()).schema_version == 1
    entry = WatchlistEntry(id="e1", kind="agency", name="PT A", version=3)
    assert WatchlistEntry.model_validate_json(entry.model_dump_json()).version == 3


def test_reports_v1_carries_no_reporter():
    assert "reporter" not in ReportSubmitted.model_fields
    assert "desa" not in ReportSubmitted.model_fields


def test_entry_and_agency_validation():
    with pytest.raises(ValidationError):
        WatchlistEntryIn(kind="agency", name="PT A", id="has space")
    with pytest.raises(ValidationError):
        AgencyIn(name="Polres", code="Bad Code")
    assert AgencyIn(name="Polres", code="polres").receives == ["watchlist_match"]

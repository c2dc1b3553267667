"""What the matcher does with a report or a watchlist change; the Faust app only wires it to topics."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.matcher.models import AnnouncedMatch, RetroScreenClaim, ScreenedReport
from services.matcher.screening import Screening
from services.matcher.watchlist_index import WatchlistIndex
from shared.db import now
from shared.models import ReportRow
from shared.outbox import enqueue
from shared.schemas import ReportSubmitted, ScreeningResult
from shared.topics import MATCHES

log = logging.getLogger(__name__)
ORIGIN = "matcher"


def to_result(report: ReportSubmitted, screening: Screening, *, retro: bool) -> ScreeningResult:
    return ScreeningResult(
        report_id=report.id, screened_at=now(), retro=retro, matches=screening.matches,
        indicators=screening.indicators, categories=screening.categories, risk_level=screening.risk_level,
        channel=report.channel, kecamatan=report.kecamatan, destination_country=report.destination_country,
        minors=report.minors, victim_count=report.victim_count,
    )


def record_first_screening(sessions: sessionmaker[Session], index: WatchlistIndex,
                           report: ReportSubmitted) -> ScreeningResult | None:
    """Screen a report once: the result and its matches.v1 message are stored together.
    None when this report was already screened (a redelivery)."""
    with sessions() as s:
        if s.get(ScreenedReport, report.id) is not None:
            return None
    screening = index.screen(report)
    result = to_result(report, screening, retro=False)
    try:
        with sessions.begin() as s:
            s.add(ScreenedReport(report_id=report.id, screened_at=result.screened_at))
            for match in result.matches:
                s.add(AnnouncedMatch(report_id=report.id, entry_id=match.entry_id,
                                     entry_version=index.versions.get(match.entry_id, 0), score=match.score))
            enqueue(s, ORIGIN, MATCHES.name, report.id, result)
    except IntegrityError:  # another worker screened it at the same time
        return None
    log.info("screened report %s: %d matches, risk %s", report.id, len(result.matches), result.risk_level)
    return result


def record_first_screenings(sessions: sessionmaker[Session], index: WatchlistIndex,
                            reports: list[ReportSubmitted]) -> list[ScreeningResult]:
    """Screen a batch of reports in one transaction (the common case under load); falls back
    to one at a time if another worker raced us on any of them."""
    unique = list({r.id: r for r in reports}.values())
    with sessions() as s:
        done = set(s.scalars(select(ScreenedReport.report_id)
                             .where(ScreenedReport.report_id.in_([r.id for r in unique]))))
    fresh = [r for r in unique if r.id not in done]
    results = [to_result(r, index.screen(r), retro=False) for r in fresh]
    if not results:
        return []
    try:
        with sessions.begin() as s:
            for report, result in zip(fresh, results):
                s.add(ScreenedReport(report_id=report.id, screened_at=result.screened_at))
                for match in result.matches:
                    s.add(AnnouncedMatch(report_id=report.id, entry_id=match.entry_id,
                                         entry_version=index.versions.get(match.entry_id, 0), score=match.score))
                enqueue(s, ORIGIN, MATCHES.name, report.id, result)
    except IntegrityError:
        return [r for r in (record_first_screening(sessions, index, report) for report in fresh) if r]
    log.info("screened %d reports: %d with matches", len(results), sum(1 for r in results if r.matches))
    return results


def claim_retro_screen(sessions: sessionmaker[Session], entry_id: str, version: int, instance: str) -> bool:
    try:
        with sessions.begin() as s:
            s.add(RetroScreenClaim(entry_id=entry_id, version=version, claimed_by=instance))
        return True
    except IntegrityError:
        return False


def retro_screen(sessions: sessionmaker[Session], index: WatchlistIndex, entry_id: str,
                 days: int, batch: int = 500) -> int:
    """Re-screen recent reports against one added or changed entry; announce only new pairs."""
    since = now() - timedelta(days=days)
    announced = 0
    last_id = ""
    while True:
        with sessions() as s:
            rows = s.execute(
                select(ReportRow.id, ReportRow.content)
                .where(ReportRow.received_at >= since, ReportRow.id > last_id)
                .order_by(ReportRow.id).limit(batch)
            ).all()
        if not rows:
            return announced
        last_id = rows[-1][0]
        for report_id, content in rows:
            report = ReportSubmitted.model_validate(content)
            screening = index.screen(report, only_entry_ids={entry_id})
            if not screening.matches:
                continue
            try:
                with sessions.begin() as s:
                    if s.get(AnnouncedMatch, (report_id, entry_id)) is not None:
                        continue
                    match = screening.matches[0]
                    s.add(AnnouncedMatch(report_id=report_id, entry_id=entry_id,
                                         entry_version=index.versions.get(entry_id, 0), score=match.score))
                    enqueue(s, ORIGIN, MATCHES.name, report_id, to_result(report, screening, retro=True))
                announced += 1
            except IntegrityError:
                continue

"""Who is told what: an agency gets an alert when a category it receives is among the report's.

One alert per agency and channel, however many entries matched (grouping); the ledger key
then makes each one happen once (dedup)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.schemas import Agency, AlertChannel, RiskLevel, ScreeningResult


@dataclass(frozen=True)
class PlannedAlert:
    agency: Agency
    channel: AlertChannel
    recipients: tuple[str, ...]
    priority: int  # 0 urgent, 1 normal, 2 bulk


def priority_of(result: ScreeningResult) -> int:
    if result.risk_level in (RiskLevel.urgent, RiskLevel.high) and not result.retro:
        return 0
    return 2 if result.retro else 1


def plan(result: ScreeningResult, agencies: list[Agency]) -> list[PlannedAlert]:
    categories = set(result.categories)
    planned = []
    for agency in agencies:
        if not categories & set(agency.receives):
            continue
        priority = priority_of(result)
        if agency.emails:
            planned.append(PlannedAlert(agency, AlertChannel.email, tuple(agency.emails), priority))
        if agency.phones:
            # The first number is the duty officer; later ones are the escalation ladder.
            planned.append(PlannedAlert(agency, AlertChannel.sms, (agency.phones[0],), priority))
    return planned

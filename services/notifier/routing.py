"""Who is told what: an agency gets an alert when a category it receives is among the report's
(or, for an agency with routing rules, when one of its rules matches). Ads from bulk feeds that
match no listed entry reach only the agencies whose rules name a feed risk level.

One alert per agency and channel, however many entries matched (grouping); the ledger key
then makes each one happen once (dedup)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.schemas import Agency, AlertChannel, Channel, RiskLevel, Route, ScreeningResult


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


RISK_ORDER = list(RiskLevel)


def _at_least(risk: RiskLevel, bar: RiskLevel) -> bool:
    return RISK_ORDER.index(risk) >= RISK_ORDER.index(bar)


def _unmatched_feed_ad(result: ScreeningResult) -> bool:
    """A bulk-feed ad that matched no listed entry: its red flags alone reach an agency only by
    a rule naming a feed risk level (most ads in a feed carry a flag or two)."""
    return result.channel == Channel.feed and "watchlist_match" not in result.categories


def rule_matches(rule: Route, result: ScreeningResult) -> bool:
    if _unmatched_feed_ad(result) and (rule.feed_min_risk is None or not _at_least(result.risk_level, rule.feed_min_risk)):
        return False
    return (bool(set(rule.categories) & set(result.categories))
            and _at_least(result.risk_level, rule.min_risk)
            and (rule.kecamatan is None or (result.kecamatan or "").casefold() == rule.kecamatan.casefold()))


def plan(result: ScreeningResult, agencies: list[Agency], rules: list[Route] = ()) -> list[PlannedAlert]:
    """One alert per agency and channel (however many rules or entries point there)."""
    categories = set(result.categories)
    by_agency: dict[str, list[Route]] = {}
    for rule in rules:
        by_agency.setdefault(rule.agency_code, []).append(rule)
    planned = []
    priority = priority_of(result)
    for agency in agencies:
        if agency.code in by_agency:
            channels = {c for rule in by_agency[agency.code] if rule_matches(rule, result) for c in rule.channels}
        else:
            receives = categories & set(agency.receives)
            channels = set(AlertChannel) if receives and not _unmatched_feed_ad(result) else set()
        if AlertChannel.email in channels and agency.emails:
            planned.append(PlannedAlert(agency, AlertChannel.email, tuple(agency.emails), priority))
        if AlertChannel.sms in channels and agency.phones:
            # The first number is the duty officer; later ones are the escalation ladder.
            planned.append(PlannedAlert(agency, AlertChannel.sms, (agency.phones[0],), priority))
    return planned

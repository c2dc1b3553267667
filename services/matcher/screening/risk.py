"""Alert categories and the overall risk level, from matches and indicators.

Categories drive the notifier's routing: watchlist_match (any match of the alert band, or one a
reviewer confirmed), unlicensed_agency (a listed
illegal agency matched), minor (the report says minors are involved, or the ad hints at it),
visa_misuse, moratorium_destination, scam_compound, fees, documents, deceptive_terms (from the
indicators), high_risk (risk high or urgent).

Risk: urgent  - minors with a match or a severe indicator;
      high    - a strong match (>= 0.9, or confirmed by a reviewer), or a match with a severe
                indicator, or two severe indicators;
      medium  - any match, or any severe indicator, or two lesser ones;
      low     - otherwise."""
from __future__ import annotations

from functools import lru_cache

from services.matcher.screening import rules
from shared.schemas import EntryKind, Indicator, Match, RiskLevel

CATEGORY_ORDER = ["watchlist_match", "unlicensed_agency", "minor", "visa_misuse", "moratorium_destination",
                  "scam_compound", "documents", "fees", "deceptive_terms", "high_risk"]


@lru_cache(maxsize=1)
def _severity() -> dict[str, int]:
    data = rules.red_flags()
    severity = {item["code"]: item["severity"] for item in data["indicators"]}
    severity["moratorium_domestic_work"] = 3
    return severity


def assess(matches: list[Match], indicators: list[Indicator], *, minors: bool,
           threshold: float) -> tuple[list[str], RiskLevel]:
    """Possible matches (below the alert threshold) count for nothing here, unless a reviewer
    confirmed them: then they count as a certain match."""
    strong = [m for m in matches if m.score >= threshold or m.confirmed]
    categories = {i.category for i in indicators}
    if strong:
        categories.add("watchlist_match")
    if any(m.kind == EntryKind.agency for m in strong):
        categories.add("unlicensed_agency")
    if minors:
        categories.add("minor")
    severity = _severity()
    severe = sum(1 for i in indicators if severity.get(i.code, 1) >= 3)
    lesser = len(indicators) - severe

    if "minor" in categories and (strong or severe - (1 if any(i.category == "minor" for i in indicators) else 0) > 0
                                  or (minors and indicators)):
        risk = RiskLevel.urgent
    elif any(m.score >= 0.9 or m.confirmed for m in strong) or (strong and severe) or severe >= 2:
        risk = RiskLevel.high
    elif strong or severe or lesser >= 2 or "minor" in categories:
        risk = RiskLevel.medium
    else:
        risk = RiskLevel.low
    if risk in (RiskLevel.high, RiskLevel.urgent):
        categories.add("high_risk")
    ordered = [c for c in CATEGORY_ORDER if c in categories] + sorted(categories - set(CATEGORY_ORDER))
    return ordered, risk

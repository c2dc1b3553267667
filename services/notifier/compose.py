"""Alert wording: Jinja2 templates in Bahasa Indonesia (default) and English.

Need to know: an SMS and a subject carry the case reference, urgency, action and a link that
needs login, nothing else. The email body adds what the agency acts on; victim numbers only for
agencies that protect victims. Never a victim's or reporter's name, phone, NIK, desa or age."""
from __future__ import annotations

import json
from functools import cached_property, lru_cache
from importlib import resources

from jinja2 import Environment, PackageLoader, StrictUndefined

from shared.alert_refs import ack_code, case_ref
from shared.schemas import Agency, MatchBand, ScreeningResult

URGENCY = {"id": {"urgent": "SANGAT MENDESAK", "high": "MENDESAK", "medium": "PERLU TINDAK LANJUT", "low": "INFO"},
           "en": {"urgent": "URGENT", "high": "HIGH", "medium": "FOLLOW-UP", "low": "INFO"}}
VICTIM_CATEGORIES = {"minor"}


@lru_cache
def _env() -> Environment:
    # The templates ship with the code: no check of their files' modification time on every use.
    return Environment(loader=PackageLoader("services.notifier", "templates"), undefined=StrictUndefined,
                       autoescape=False, keep_trailing_newline=False, auto_reload=False)


@lru_cache
def _actions() -> dict:
    return json.loads(resources.files("services.notifier").joinpath("data/actions.json").read_text())


def action_for(agency: Agency, result: ScreeningResult, lang: str) -> str:
    actions = _actions()
    relevant = [c for c in result.categories if c in agency.receives and c in actions]
    chosen = [actions[c][lang] for c in relevant[:2]] or [actions["_default"][lang]]
    return "; ".join(chosen)


class AlertText:
    """An alert's wording. Each part is rendered when first read: an email needs no SMS text,
    an SMS no subject or body."""

    def __init__(self, env: Environment, lang: str, context: dict) -> None:
        self._env, self._lang, self._context = env, lang, context

    def _render(self, name: str) -> str:
        return self._env.get_template(f"{name}.{self._lang}.j2").render(self._context)

    @cached_property
    def sms(self) -> str:
        return self._render("sms").strip()

    @cached_property
    def subject(self) -> str:
        return " ".join(self._render("email_subject").split())

    @cached_property
    def body(self) -> str:
        return self._render("email_body")


ESCALATION = {"id": "ESKALASI", "en": "ESCALATION"}


def compose(alert_id: str, agency: Agency, result: ScreeningResult, public_url: str, lang: str = "id",
            step: int = 0) -> AlertText:
    env = _env()
    risk = result.risk_level.value
    urgency = URGENCY[lang][risk] + (f" {ESCALATION[lang]} {step}" if step else "")
    context = {
        "case_ref": case_ref(result.report_id),
        "urgency_label": urgency,
        "risk_label": URGENCY[lang][risk],
        "action": action_for(agency, result, lang),
        "link": f"{public_url}/alerts/{alert_id}",
        "ack_link": f"{public_url}/alerts/{alert_id}/ack",
        "ack_code": ack_code(alert_id),
        "agency_name": agency.name,
        "categories": [c for c in result.categories if c in agency.receives] or result.categories,
        "kecamatan": result.kecamatan,
        "destination_country": result.destination_country,
        "show_victims": bool(VICTIM_CATEGORIES & set(agency.receives)),
        "victim_count": result.victim_count,
        "minors": result.minors,
        # possible matches (the review band) are a reviewer's, never an agency's
        "matches": [{"entry_id": m.entry_id, "entry_name": m.entry_name, "score": m.score,
                     "methods": sorted({e.method for e in m.evidence})} for m in result.matches
                    if m.band == MatchBand.alert],
        "indicators": result.indicators,
    }
    return AlertText(env, lang, context)

"""Versioned contracts: API bodies and the Kafka messages the services exchange.

Every Kafka message carries `schema_version`; a breaking change makes a new model
and a new topic name (reports.v2), never an edit in place.
"""
from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


# ---------------------------------------------------------------- field types

# No control characters: names end up in email bodies and headers, CSV cells and logs.
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                             pattern=r"^[^\x00-\x1f\x7f]*$")]
LongText = Annotated[str, StringConstraints(max_length=20_000)]
_PHONE_CHARS = re.compile(r"^[0-9+()\-./\s]*$|^(https?://)?(wa\.me|api\.whatsapp\.com)/.*$", re.I)


_NOT_DIGIT = re.compile(r"\D")


def _check_phone(value: str) -> str:
    digits = _NOT_DIGIT.sub("", value)
    if not _PHONE_CHARS.match(value) or not 6 <= len(digits) <= 15:
        raise ValueError("not a phone number: use digits with optional +, spaces, dashes or brackets")
    return value


def _check_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+", value):
        raise ValueError("not an email address")
    return value


Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(_check_phone)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254), AfterValidator(_check_email)]
Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=2048)]
Identifier = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


def ShortList(item, max_items: int = 50):  # noqa: N802 - reads like a type
    return Annotated[list[item], Field(max_length=max_items)]


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, (list, tuple, set)):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    """API bodies: unknown fields refused; no NUL characters anywhere (PostgreSQL cannot store
    them and no honest client sends them)."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data):
        # One look at the whole input, not a validator run for every field (twenty a watchlist
        # row): repr() is one pass in C, and only an input it shows a NUL in (or the four
        # letters \x00) is looked at field by field, to name each field holding one
        if isinstance(data, dict) and "\\x00" in repr(data):
            bad = [key for key, value in data.items() if _has_nul(value)]
            if bad:
                raise ValidationError.from_exception_data(cls.__name__, [
                    {"type": "value_error", "loc": (key,), "input": data[key],
                     "ctx": {"error": ValueError("NUL characters are not accepted")}} for key in bad])
        return data


# ---------------------------------------------------------------- reports


class Channel(StrEnum):
    hotline = "hotline"
    whatsapp = "whatsapp"
    web = "web"
    walk_in = "walk_in"
    feed = "feed"
    sms = "sms"  # a tip sent by SMS (the inbound Twilio webhook)


class Location(Strict):
    kecamatan: ShortText | None = None
    desa: ShortText | None = None  # personal: narrows a victim's home; never leaves the ingest


class Victims(Strict):
    count: int = Field(default=0, ge=0, le=10_000)
    minors: bool = False


class Reporter(Strict):
    """Confidential (UU 21/2007): stored apart, shown only to admins, never published on Kafka."""

    name: ShortText | None = None
    phone: Phone | None = None


class Leads(Strict):
    """What a report or a job ad gives of the recruiters behind it, besides their firm's name."""

    recruiter_names: ShortList(ShortText) = Field(default_factory=list)
    phones: ShortList(Phone) = Field(default_factory=list)
    emails: ShortList(Email) = Field(default_factory=list)
    urls: ShortList(Url) = Field(default_factory=list)
    social_handles: ShortList(Identifier) = Field(default_factory=list)
    license_numbers: ShortList(Identifier) = Field(default_factory=list)


class ReportContent(Leads):
    """What is screened: the report's facts about recruiters and ads, without the reporter."""

    agency_names: ShortList(ShortText) = Field(default_factory=list)
    ad_text: LongText = ""
    destination_country: ShortText | None = None


class ReportIn(ReportContent):
    """POST /v1/reports body."""

    channel: Channel
    location: Location | None = None
    victims: Victims | None = None
    reporter: Reporter | None = None


class ReportAccepted(BaseModel):
    id: str
    status_url: str


class ReportSubmitted(ReportContent):
    """reports.v1: a report to screen. No reporter, no desa: the matcher needs neither."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    id: str
    channel: Channel
    received_at: datetime
    kecamatan: str | None = None
    victim_count: int = 0
    minors: bool = False


# ---------------------------------------------------------------- watchlist


class EntryKind(StrEnum):
    agency = "agency"
    person = "person"


class EntryStatus(StrEnum):
    active = "active"
    retired = "retired"  # kept for the record; no longer screened


Note = Annotated[str, StringConstraints(max_length=4000)]
Source = Annotated[str, StringConstraints(max_length=500)]
Reviewer = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]


class WatchlistEntryBase(Strict):
    kind: EntryKind
    name: ShortText
    aliases: ShortList(ShortText, 200) = Field(default_factory=list)
    phones: ShortList(Phone, 200) = Field(default_factory=list)
    license_numbers: ShortList(Identifier, 200) = Field(default_factory=list)
    social_handles: ShortList(Identifier, 200) = Field(default_factory=list)
    urls: ShortList(Url, 200) = Field(default_factory=list)
    notes: Note = ""
    source: Source = ""  # the document behind the listing: police report number, court decision, ...
    reason: Note = ""
    status: EntryStatus = EntryStatus.active
    reviewer: Reviewer = ""
    review_by: date | None = None  # when the listing must next be reviewed


class WatchlistEntryIn(WatchlistEntryBase):
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,80}$")] | None = None


class WatchlistEntryPatch(Strict):
    kind: EntryKind | None = None
    name: ShortText | None = None
    aliases: list[ShortText] | None = None
    phones: list[Phone] | None = None
    license_numbers: list[Identifier] | None = None
    social_handles: list[Identifier] | None = None
    urls: list[Url] | None = None
    notes: Note | None = None
    source: Source | None = None
    reason: Note | None = None
    status: EntryStatus | None = None
    reviewer: Reviewer | None = None
    review_by: date | None = None


class WatchlistEntry(WatchlistEntryBase):
    """An entry as stored and as published on watchlist.v1 (keyed by id; tombstone on delete)."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    id: str
    version: int = 1  # grows with every change; consumers ignore older versions
    updated_at: datetime | None = None


# ---------------------------------------------------------------- screening results


class EvidenceFeature(BaseModel):
    """One named feature of a score (the screening model's list): for a name, its word
    similarity and each factor that lowered it, with what the feature saw."""

    name: str
    value: float
    detail: str = ""


class Evidence(BaseModel):
    field: str  # report field the value came from: agency_names, phones, ad_text, ...
    report_value: str
    entry_value: str
    method: str  # exact_phone, name_tokens, alias, licence, handle, url, text_name, ...
    score: float = Field(ge=0, le=1)
    features: list[EvidenceFeature] = []  # why the score is what it is


class MatchBand(StrEnum):
    alert = "alert"  # at or above the alert threshold: routed to the agencies that must act
    review = "review"  # a possible match, between the review and alert thresholds: for a reviewer only


class Match(BaseModel):
    entry_id: str
    entry_name: str
    kind: EntryKind
    score: float = Field(ge=0, le=1)
    band: MatchBand = MatchBand.alert
    confirmed: bool = False  # a possible match a reviewer confirmed: it alerts whatever its score
    evidence: list[Evidence] = []


class Indicator(BaseModel):
    code: str
    category: str
    phrase: str  # the text that triggered it
    explanation: str
    source: str


class RiskLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


class ScreeningResult(BaseModel):
    """matches.v1: what the matcher found in one report (or in a re-screen of it)."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    report_id: str
    screened_at: datetime
    retro: bool = False  # produced by re-screening after a watchlist change
    matches: list[Match] = []
    indicators: list[Indicator] = []
    categories: list[str] = []
    risk_level: RiskLevel = RiskLevel.low
    # Facts the notifier needs to route and word an alert; nothing identifying a person.
    channel: Channel | None = None
    kecamatan: str | None = None
    destination_country: str | None = None
    minors: bool = False
    victim_count: int = 0


class ReviewDecision(BaseModel):
    """reviews.v1: a reviewer confirmed a possible match (the matcher then publishes it on
    matches.v1 as a match, and the notifier alerts through the normal routes). Rejections stay
    in the ingest: they become false-positive suppressions, which the matcher reads."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    report_id: str
    entry_id: str
    decided_at: datetime
    by: str  # token id
    match: Match  # as screening found it


# ---------------------------------------------------------------- alerts


class AlertChannel(StrEnum):
    email = "email"
    sms = "sms"


class AlertStatus(StrEnum):
    queued = "queued"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    acknowledged = "acknowledged"


class AlertEvent(BaseModel):
    """alerts.v1 (and alerts.dead.v1): a change in one alert's delivery state."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    alert_id: str
    report_id: str
    agency_code: str
    channel: AlertChannel
    step: int = 0
    status: AlertStatus
    at: datetime
    attempt: int = 0
    detail: str = ""  # error class or provider status; never a message body or an address


class DeliveryReceipt(BaseModel):
    """receipts.v1: what the HTTP edge heard from a provider or an officer about an alert."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    alert_id: str | None = None
    provider_id: str | None = None  # e.g. Twilio MessageSid
    kind: Literal["status", "ack"]
    status: str = ""
    at: datetime
    report_id: str | None = None  # acks: the agency acknowledges the report, whatever the channel
    agency_code: str | None = None
    by: str | None = None  # token id, or "sms" for a reply; never a phone number


# ---------------------------------------------------------------- tips


class TipReplyRequested(BaseModel):
    """tip-replies.v1: send the acknowledgement reply to the sender of this tip. The tip id
    only: the notifier reads the sender's number from the database; it is never on Kafka."""

    model_config = ConfigDict(extra="ignore")
    schema_version: Literal[1] = 1
    tip_id: str


# ---------------------------------------------------------------- agencies


class AgencyIn(Strict):
    name: ShortText
    code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{1,39}$")]
    emails: ShortList(Email) = Field(default_factory=list)
    phones: ShortList(Phone) = Field(default_factory=list)
    receives: list[ShortText] = Field(default_factory=lambda: ["watchlist_match"], max_length=50)


class Agency(AgencyIn):
    model_config = ConfigDict(extra="ignore")


# ---------------------------------------------------------------- routing rules


class RouteIn(Strict):
    agency_code: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{1,39}$")]
    categories: Annotated[list[ShortText], Field(min_length=1, max_length=30)]
    min_risk: RiskLevel = RiskLevel.low
    kecamatan: ShortText | None = None
    channels: Annotated[list[AlertChannel], Field(min_length=1, max_length=2)] = [AlertChannel.email, AlertChannel.sms]
    # Bulk feeds carry thousands of ads, most with a red flag or two: a feed report that matches
    # no listed entry reaches an agency only by a rule that names the risk it must reach.
    # None: by this rule, feed reports only when they match the watchlist.
    feed_min_risk: RiskLevel | None = None


class Route(RouteIn):
    id: str


# ---------------------------------------------------------------- bulk feeds of job ads

def _as_utc(value: datetime) -> datetime:
    """A time without a zone (a bare date, as most boards give it) is read as UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


FeedSource = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")]
AdTitle = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class FeedAdIn(Leads):
    """One line of POST /v1/feeds/{source}/ads (NDJSON). A line may also be a schema.org
    JobPosting object (with "@type"), read as services/ingest/feeds/formats.py says."""

    url: Url | None = None
    title: AdTitle | None = None
    description: LongText = ""
    company: ShortText | None = None
    location: ShortText | None = None
    country: ShortText | None = None
    posted_at: Annotated[datetime, AfterValidator(_as_utc)] | None = None
    site: ShortText | None = None  # where the feed saw it: a group, a board
    external_id: Identifier | None = None

    @model_validator(mode="after")
    def _something_to_screen(self):
        if not (self.url or self.title or self.description.strip()):
            raise ValueError("an ad needs a url, a title or a description")
        return self


class RejectedLine(BaseModel):
    line: int  # 1-based, in the posted body
    reason: str  # names the field


class FeedPostSummary(BaseModel):
    source: str
    lines: int  # non-blank lines read
    accepted: int  # new ads: each a report, screened
    duplicates: int  # ads seen before: counted on their report, no new report and no alert
    rejected: list[RejectedLine]

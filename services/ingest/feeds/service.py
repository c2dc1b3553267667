"""Bulk feeds of job ads: each new ad becomes a report (channel "feed") and is screened like
any report; an ad seen before is counted on its report, never a second report or alert.

The steps of a post, in order:
  read_lines    each line is an ad (FeedAdIn, or a JobPosting object) or a rejection naming
                its line and field; a bad line costs only itself
  ad_report     the ad as a report: its fields, and the phones, emails, handles and URLs its
                text holds
  ad_keys       what makes it the same ad again: its url, its text
  store         per chunk, one transaction: new reports with their reports.v1 outbox rows and
                keys, the seen-again counts of known ones, the feed's counters and an audit
                record. A line is written whole or not at all.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import ValidationError
from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.feeds.formats import from_jobposting, is_jobposting
from services.ingest.models import FeedAdKey, FeedAdRow, FeedRow, ReportAlertRow, ReportMatchRow
from services.ingest.reports.service import report_values
from shared.db import now
from shared.identifiers import fold, handles_in_text, phones_in_text, urls_in_text
from shared.models import ReportRow
from shared.outbox import enqueue_serialized, serialize
from shared.phones import phone_key
from shared.schemas import Channel, FeedAdIn, FeedPostSummary, RejectedLine, ReportIn
from shared.topics import REPORTS

ORIGIN = "ingest"
CHUNK = 500  # ads a transaction: SQLite's single writer is never held long
_MAX_ITEMS = 50  # ShortList: what a report holds of each kind
_MAX_AD_TEXT = 20_000
_EMAIL_IN_TEXT = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[a-z]{2,24}", re.I)
# Parameters that say who shared a link or how it was found, not which ad it is
_TRACKING = re.compile(r"^(utm_\w*|fbclid|gclid|dclid|igshid|igsh|mibextid|si|ref|ref_src|refid|src|source|"
                       r"share_url|rdid|_rdc|_rdr|__cft__\S*|__tn__|from|trk|trackingid)$")
_WORDS = re.compile(r"[a-z0-9]+")
# A text this short ("Dicari TKW Taiwan") is many ads, not one: only the url tells them apart
_MIN_TEXT_KEY = 40


@dataclass
class ReadLine:
    line: int
    ad: FeedAdIn


def read_lines(body: bytes) -> tuple[list[ReadLine], list[RejectedLine], int]:
    """(ads, rejected lines, non-blank lines) of an NDJSON body."""
    ads, rejected, lines = [], [], 0
    for number, raw in enumerate(body.split(b"\n"), start=1):
        if not raw.strip():
            continue
        lines += 1
        try:
            ads.append(ReadLine(number, _read_line(raw)))
        except LineRefused as exc:
            rejected.append(RejectedLine(line=number, reason=str(exc)))
    return ads, rejected, lines


class LineRefused(ValueError):
    pass


def _read_line(raw: bytes) -> FeedAdIn:
    try:
        obj = json.loads(raw)
    except UnicodeDecodeError as exc:
        raise LineRefused(f"not UTF-8 (byte {exc.start})") from None
    except ValueError as exc:
        raise LineRefused(f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise LineRefused("an ad is a JSON object, one a line")
    if is_jobposting(obj):
        obj = from_jobposting(obj)
    try:
        return FeedAdIn.model_validate(obj)
    except ValidationError as exc:
        raise LineRefused(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    """The fields at fault, as "phones.0: not a phone number ..."."""
    parts = []
    for error in exc.errors()[:3]:
        where = ".".join(str(p) for p in error["loc"]) or "ad"
        parts.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
    more = len(exc.errors()) - 3
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


# ---------------------------------------------------------------- an ad as a report


def ad_text(ad: FeedAdIn) -> str:
    text = "\n\n".join(p for p in (ad.title, ad.description.strip()) if p)
    if ad.location:
        text += f"\n\nLokasi: {ad.location}"
    return text[:_MAX_AD_TEXT]


def _unique(values, key=lambda v: v) -> list:
    seen, out = set(), []
    for value in values:
        k = key(value)
        if k and k not in seen:
            seen.add(k)
            out.append(value)
    return out[:_MAX_ITEMS]


def ad_report(ad: FeedAdIn) -> ReportIn:
    """What the ad says, given in its fields and written in its text."""
    text = ad_text(ad)
    phones = _unique([*ad.phones, *(key for _, key in phones_in_text(text))], phone_key)
    emails = _unique([*ad.emails, *_EMAIL_IN_TEXT.findall(text)], str.casefold)
    urls = _unique([u for u in (ad.url, *ad.urls) if u] + [raw for raw, _ in urls_in_text(text)
                                                          if "@" not in raw and len(raw) <= 2048], ad_url_key)
    handles = _unique([*ad.social_handles, *(raw for raw, _ in handles_in_text(text) if len(raw) <= 120)],
                      str.casefold)
    return ReportIn(channel=Channel.feed, agency_names=[ad.company] if ad.company else [],
                    recruiter_names=ad.recruiter_names, phones=phones, emails=emails, urls=urls,
                    social_handles=handles, license_numbers=ad.license_numbers, ad_text=text,
                    destination_country=ad.country)


def ad_url_key(url: str) -> str | None:
    """An ad's address as the same ad has it wherever it is shared: host without www. or m.,
    path without a trailing slash, the query without tracking parameters, no fragment."""
    url = url.strip()
    parts = urlsplit(url if "//" in url else "//" + url)
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    if "." not in host:
        return None
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _TRACKING.match(k.lower()))
    return host + parts.path.rstrip("/") + (f"?{urlencode(query)}" if query else "")


def ad_keys(ad: FeedAdIn) -> list[str]:
    """Hashes of the ad's url and of its text (folded to words); the same ad has one of them."""
    keys = []
    url = ad_url_key(ad.url) if ad.url else None
    if url:
        keys.append("u:" + url)
    words = " ".join(_WORDS.findall(fold(f"{ad.title or ''} {ad.description}")))
    if len(words) >= _MIN_TEXT_KEY:
        keys.append("t:" + words)
    return [hashlib.sha256(k.encode()).hexdigest() for k in keys]


# ---------------------------------------------------------------- storing a post


@dataclass
class _Chunk:
    accepted: int = 0
    duplicates: int = 0
    reports: list[dict] = field(default_factory=list)
    messages: list = field(default_factory=list)  # serialized reports.v1 outbox rows
    feed_ads: list[dict] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)  # new key -> report id
    seen_again: dict[str, int] = field(default_factory=dict)  # report id -> times in this chunk


def post_ads(sessions: sessionmaker[Session], *, source: str, body: bytes, actor: str) -> FeedPostSummary:
    ads, rejected, lines = read_lines(body)
    prepared = []
    for item in ads:
        try:
            prepared.append((item, ad_report(item.ad), ad_keys(item.ad)))
        except ValidationError as exc:  # a value read out of the text that a report cannot hold
            rejected.append(RejectedLine(line=item.line, reason=describe(exc)))
    rejected.sort(key=lambda r: r.line)
    accepted = duplicates = 0
    chunks = [prepared[i:i + CHUNK] for i in range(0, len(prepared), CHUNK)] or [[]]
    for number, chunk in enumerate(chunks):
        # the rejected lines are counted with the first chunk, so the feed's counts add up
        refused = len(rejected) if number == 0 else 0
        stored = _store_with_retry(sessions, source=source, chunk=chunk, refused=refused, actor=actor)
        accepted += stored.accepted
        duplicates += stored.duplicates
    return FeedPostSummary(source=source, lines=lines, accepted=accepted, duplicates=duplicates, rejected=rejected)


def _store_with_retry(sessions, **kwargs) -> _Chunk:
    # Another post may insert the same new ad (key) between our read and our write: then the
    # whole chunk is read again, and that ad is a duplicate of the other post's report.
    for _ in range(2):
        try:
            return _store(sessions, **kwargs)
        except IntegrityError:
            continue
    return _store(sessions, **kwargs)


def _known_keys(sessions: sessionmaker[Session], chunk: list) -> dict[str, str]:
    wanted = list({k for _, _, keys in chunk for k in keys})
    known: dict[str, str] = {}
    with sessions() as s:
        for i in range(0, len(wanted), 1000):
            known.update(s.execute(select(FeedAdKey.key, FeedAdKey.report_id)
                                   .where(FeedAdKey.key.in_(wanted[i:i + 1000]))).all())
    return known


def _plan(chunk: list, known: dict[str, str], *, source: str, actor: str, at: datetime) -> _Chunk:
    """Every row the chunk writes, made before its transaction begins: on SQLite the one writer's
    lock is then held for the statements only, not for the Python that makes them (which other
    requests' threads slow further by taking turns at the interpreter)."""
    out = _Chunk()
    messages = []
    for item, report, keys in chunk:
        report_id = next((r for r in (known.get(k) or out.keys.get(k) for k in keys) if r), None)
        if report_id is None:
            values, message = report_values(report, submitted_by=actor)
            report_id = message.id
            out.reports.append(values)
            messages.append((REPORTS.name, report_id, message))
            out.feed_ads.append({"report_id": report_id, "source": source, "url": item.ad.url,
                                 "posted_at": item.ad.posted_at, "first_seen_at": at, "last_seen_at": at,
                                 "seen_count": 1})
            out.accepted += 1
        else:
            out.seen_again[report_id] = out.seen_again.get(report_id, 0) + 1
            out.duplicates += 1
        for key in keys:  # an ad seen again under a new url is found by it next time too
            if key not in known and key not in out.keys:
                out.keys[key] = report_id
    out.messages = serialize(messages)
    return out


def _store(sessions: sessionmaker[Session], *, source: str, chunk: list, refused: int, actor: str) -> _Chunk:
    at = now()
    out = _plan(chunk, _known_keys(sessions, chunk), source=source, actor=actor, at=at)
    with sessions.begin() as s:
        if out.reports:
            s.execute(insert(ReportRow.__table__), out.reports)
            s.execute(insert(FeedAdRow.__table__), out.feed_ads)
        if out.keys:
            s.execute(insert(FeedAdKey.__table__), [{"key": k, "report_id": r} for k, r in out.keys.items()])
        if out.seen_again:
            table = FeedAdRow.__table__
            s.execute(update(table).where(table.c.report_id == bindparam("rid"))
                      .values(seen_count=table.c.seen_count + bindparam("n"), last_seen_at=at),
                      [{"rid": r, "n": n} for r, n in out.seen_again.items()])
        enqueue_serialized(s, ORIGIN, out.messages)
        _count(s, source, at, lines=len(chunk) + refused, accepted=out.accepted, duplicates=out.duplicates,
               rejected=refused)
        audit.record(s, actor, "feed.ads.post", "feed", source, None,
                     {"accepted": out.accepted, "duplicates": out.duplicates, "rejected": refused})
    return out


def _count(s: Session, source: str, at: datetime, **counts: int) -> None:
    feed = s.get(FeedRow, source, with_for_update=True)
    if feed is None:
        feed = FeedRow(source=source, first_post_at=at, last_post_at=at, lines=0, accepted=0, duplicates=0, rejected=0)
        s.add(feed)
    for name, n in counts.items():
        setattr(feed, name, getattr(feed, name) + n)
    feed.last_post_at = at


# ---------------------------------------------------------------- reading


def list_feeds(sessions: sessionmaker[Session]) -> list[dict]:
    """Each feed's counts: lines posted, new ads, duplicates, rejected lines, and of its reports
    how many were screened, matched a listed entry and alerted an agency."""
    ads = FeedAdRow.__table__
    with sessions() as s:
        feeds = s.scalars(select(FeedRow).order_by(FeedRow.last_post_at.desc())).all()
        screened = dict(s.execute(select(ads.c.source, func.count()).join(ReportRow, ReportRow.id == ads.c.report_id)
                                  .where(ReportRow.screened_at.is_not(None)).group_by(ads.c.source)).all())
        matched = dict(s.execute(
            select(ads.c.source, func.count(func.distinct(ReportMatchRow.report_id)))
            .join(ReportMatchRow, ReportMatchRow.report_id == ads.c.report_id)
            .where(func.coalesce(ReportMatchRow.band, "alert") == "alert", ReportMatchRow.false_positive_by.is_(None))
            .group_by(ads.c.source)).all())
        alerted = dict(s.execute(
            select(ads.c.source, func.count(func.distinct(ReportAlertRow.report_id)))
            .join(ReportAlertRow, ReportAlertRow.report_id == ads.c.report_id).group_by(ads.c.source)).all())
        seen_again = dict(s.execute(select(ads.c.source, func.count()).where(ads.c.seen_count > 1)
                                    .group_by(ads.c.source)).all())
    return [{"source": f.source, "first_post_at": f.first_post_at, "last_post_at": f.last_post_at, "lines": f.lines,
             "accepted": f.accepted, "duplicates": f.duplicates, "rejected": f.rejected,
             "screened": screened.get(f.source, 0), "matched": matched.get(f.source, 0),
             "alerted": alerted.get(f.source, 0), "seen_again": seen_again.get(f.source, 0)} for f in feeds]

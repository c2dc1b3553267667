"""The review queue: possible matches (between the review and the alert threshold), which are
never sent to an agency, until a reviewer confirms one (it then alerts through the normal
routes) or rejects it (a false-positive suppression). Every decision is audited."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from services.ingest.models import ReportMatchRow
from services.ingest.reports.service import suppress
from shared.db import now
from shared.models import ReportRow
from shared.outbox import enqueue
from shared.schemas import EntryKind, Evidence, Match, MatchBand, ReviewDecision
from shared.topics import REVIEWS

ORIGIN = "ingest"
STATUSES = ("pending", "confirmed", "rejected")


class ReportFacts(BaseModel):
    """What a reviewer sees of the report beside the evidence (no reporter, no desa)."""
    channel: str
    received_at: datetime
    kecamatan: str | None
    risk_level: str | None
    categories: list[str]


class Review(BaseModel):
    report_id: str
    entry_id: str
    entry_name: str
    kind: EntryKind | None
    score: float
    evidence: list[Evidence]
    found_at: datetime
    status: str  # pending | confirmed | rejected
    reviewed_by: str | None = None
    reviewed_at: datetime | None = None
    reason: str | None = None
    report: ReportFacts


class NoSuchReview(Exception):
    pass


class AlreadyDecided(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


def _status(row: ReportMatchRow) -> str:
    return row.review_status or "pending"


def _review(row: ReportMatchRow, report: ReportRow) -> Review:
    content = report.content or {}
    return Review(report_id=row.report_id, entry_id=row.entry_id, entry_name=row.entry_name,
                  kind=row.kind, score=row.score, evidence=row.evidence, found_at=row.found_at, status=_status(row),
                  reviewed_by=row.reviewed_by, reviewed_at=row.reviewed_at, reason=row.review_reason,
                  report=ReportFacts(channel=report.channel, received_at=report.received_at,
                                     kecamatan=content.get("kecamatan"), risk_level=report.risk_level,
                                     categories=report.categories or []))


def _in_status(status: str):
    possible = ReportMatchRow.band == MatchBand.review.value
    if status == "pending":
        return possible & ReportMatchRow.review_status.is_(None) & ReportMatchRow.false_positive_by.is_(None)
    return ReportMatchRow.review_status == status


def list_reviews(sessions: sessionmaker[Session], *, status: str = "pending", limit: int = 50,
                 offset: int = 0) -> tuple[int, list[Review]]:
    """Possible matches in this status, the oldest pending first (decided ones newest first)."""
    query = select(ReportMatchRow, ReportRow).join(ReportRow, ReportRow.id == ReportMatchRow.report_id) \
        .where(_in_status(status))
    order = (ReportMatchRow.found_at, ReportMatchRow.report_id, ReportMatchRow.entry_id) if status == "pending" \
        else (ReportMatchRow.reviewed_at.desc(), ReportMatchRow.report_id, ReportMatchRow.entry_id)
    with sessions() as s:
        total = s.scalar(select(func.count()).select_from(ReportMatchRow).where(_in_status(status))) or 0
        rows = s.execute(query.order_by(*order).limit(limit).offset(offset)).all()
        return total, [_review(match, report) for match, report in rows]


def decide(sessions: sessionmaker[Session], *, report_id: str, entry_id: str, confirm: bool, reason: str | None,
           actor: str) -> Review:
    """Confirm (published on reviews.v1 for the matcher to turn into a match) or reject (a
    false-positive suppression) a pending possible match, in one transaction with its audit
    record. Raises NoSuchReview, AlreadyDecided."""
    with sessions.begin() as s:
        row = s.get(ReportMatchRow, (report_id, entry_id), with_for_update=True)
        report = s.get(ReportRow, report_id)
        if row is None or report is None:
            raise NoSuchReview(report_id, entry_id)
        if row.review_status or row.false_positive_by:
            raise AlreadyDecided(row.review_status or "rejected")
        if row.band != MatchBand.review.value:  # a match, not a possible one
            raise NoSuchReview(report_id, entry_id)
        row.review_status = "confirmed" if confirm else "rejected"
        row.reviewed_by, row.reviewed_at, row.review_reason = actor, now(), reason
        if confirm:
            audit.record(s, actor, "review.confirm", "report_match", f"{report_id}/{entry_id}",
                         {"band": "review", "score": row.score}, {"band": "alert", "reason": reason})
            match = Match(entry_id=row.entry_id, entry_name=row.entry_name, kind=row.kind or EntryKind.agency,
                          score=row.score, band=MatchBand.review, evidence=row.evidence)
            enqueue(s, ORIGIN, REVIEWS.name, report_id,
                    ReviewDecision(report_id=report_id, entry_id=entry_id, decided_at=row.reviewed_at, by=actor,
                                   match=match))
        else:
            audit.record(s, actor, "review.reject", "report_match", f"{report_id}/{entry_id}",
                         {"band": "review", "score": row.score}, {"reason": reason})
            suppress(s, row, reason or "rejected in review", actor)
        return _review(row, report)

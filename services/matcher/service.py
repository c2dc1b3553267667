"""What the matcher does with a report or a watchlist change; the Faust app only wires it to topics."""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.matcher.models import AnnouncedMatch, RetroScreenClaim, ScreenedReport
from services.matcher.screening import DEFAULT_THRESHOLD, Screening
from services.matcher.screening.risk import assess
from services.matcher.watchlist_index import WatchlistIndex
from shared.db import now
from shared.models import ReportRow
from shared.outbox import enqueue, enqueue_many
from shared.schemas import MatchBand, ReportSubmitted, ReviewDecision, ScreeningResult
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


def record_first_screenings(sessions: sessionmaker[Session], index: WatchlistIndex,
                            reports: list[ReportSubmitted], attempts: int = 5) -> list[ScreeningResult]:
    """Screen a batch of reports once each, in one transaction: the results, the pairs they
    announce and their matches.v1 messages are stored together.

    Another matcher worker (a redelivery after a rebalance) or retro-screening may store some of
    the same rows at the same moment; then the transaction fails on a unique key, and the batch
    is looked at again: reports already screened are skipped, pairs already announced are not
    stored twice. Nothing is dropped."""
    unique = list({r.id: r for r in reports}.values())
    index.refresh_suppressions(sessions)
    ids = [r.id for r in unique]
    screened_before = _screened(sessions, ids)
    # Screened outside the transaction: on SQLite a write transaction waits for the one writer,
    # and a batch's screening (tens of ms) must not be spent holding or waiting for it
    screened = {r.id: to_result(r, index.screen(r), retro=False) for r in unique if r.id not in screened_before}
    for attempt in range(attempts):
        try:
            with sessions.begin() as s:
                done = set(s.scalars(select(ScreenedReport.report_id).where(ScreenedReport.report_id.in_(ids))))
                fresh = [r for r in unique if r.id not in done]
                for report in fresh:
                    if report.id not in screened:  # its screening row was deleted meanwhile
                        screened[report.id] = to_result(report, index.screen(report), retro=False)
                with_matches = [r.id for r in fresh if screened[r.id].matches]
                announced = set(s.execute(select(AnnouncedMatch.report_id, AnnouncedMatch.entry_id)
                                          .where(AnnouncedMatch.report_id.in_(with_matches))).all()) \
                    if with_matches else set()
                results = [screened[r.id] for r in fresh]
                # Bulk statements: a feed brings a thousand reports a second, and an ORM object
                # a row costs more than screening the report
                found_at = now()
                pairs = [{"report_id": result.report_id, "entry_id": match.entry_id,
                          "entry_version": index.versions.get(match.entry_id, 0), "score": match.score,
                          "found_at": found_at}
                         for result in results for match in result.matches
                         if (result.report_id, match.entry_id) not in announced]
                if results:
                    s.execute(insert(ScreenedReport.__table__),
                              [{"report_id": r.report_id, "screened_at": r.screened_at} for r in results])
                if pairs:
                    s.execute(insert(AnnouncedMatch.__table__), pairs)
                enqueue_many(s, ORIGIN, [(MATCHES.name, r.report_id, r) for r in results])
        except IntegrityError:
            log.info("screening batch raced another writer (attempt %d); looking again", attempt + 1)
            continue
        if results:
            log.info("screened %d reports: %d with matches", len(results), sum(1 for r in results if r.matches))
        return results
    raise RuntimeError("screening batch kept conflicting; the stream handler will retry it")


def _screened(sessions: sessionmaker[Session], ids: list[str]) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(ScreenedReport.report_id).where(ScreenedReport.report_id.in_(ids))))


def claim_retro_screens(sessions: sessionmaker[Session], changes: dict[str, int], instance: str) -> set[str]:
    """Claim (entry, version) re-screens; returns the entries this worker won. One transaction
    for the batch, one at a time only if another worker raced us."""
    try:
        with sessions.begin() as s:
            for entry_id, version in changes.items():
                s.add(RetroScreenClaim(entry_id=entry_id, version=version, claimed_by=instance))
        return set(changes)
    except IntegrityError:
        won = set()
        for entry_id, version in changes.items():
            try:
                with sessions.begin() as s:
                    s.add(RetroScreenClaim(entry_id=entry_id, version=version, claimed_by=instance))
                won.add(entry_id)
            except IntegrityError:
                continue
        return won


def retro_screen(sessions: sessionmaker[Session], index: WatchlistIndex, entry_ids: set[str],
                 days: int, batch: int = 500) -> int:
    """Re-screen recent reports against added or changed entries (one pass for a whole batch of
    changes); announce only (report, entry) pairs never announced before."""
    if not entry_ids:
        return 0
    index.refresh_suppressions(sessions)
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
            screening = index.screen(report, only_entry_ids=entry_ids)
            if not screening.matches:
                continue
            try:
                with sessions.begin() as s:
                    known = set(s.scalars(select(AnnouncedMatch.entry_id).where(
                        AnnouncedMatch.report_id == report_id,
                        AnnouncedMatch.entry_id.in_([m.entry_id for m in screening.matches]))))
                    new = [m for m in screening.matches if m.entry_id not in known]
                    if not new:
                        continue
                    for match in new:
                        s.add(AnnouncedMatch(report_id=report_id, entry_id=match.entry_id,
                                             entry_version=index.versions.get(match.entry_id, 0), score=match.score))
                    screening.matches = new
                    enqueue(s, ORIGIN, MATCHES.name, report_id, to_result(report, screening, retro=True))
                announced += len(new)
            except IntegrityError:
                continue


def publish_confirmed(sessions: sessionmaker[Session], index: WatchlistIndex, decision: ReviewDecision) -> bool:
    """A reviewer confirmed a possible match: publish it on matches.v1 as a match (the
    notifier then routes it like any), once. Its categories and risk are worked out again with
    the match counted as certain, the report's red flags with it."""
    with sessions.begin() as s:
        announced = s.get(AnnouncedMatch, (decision.report_id, decision.entry_id), with_for_update=True)
        if announced is not None and announced.confirmed_at is not None:
            return False  # redelivered: published already
        row = s.get(ReportRow, decision.report_id)
        if row is None:
            log.info("confirmed match of an unknown or purged report %s: nothing to publish", decision.report_id)
            return False
        report = ReportSubmitted.model_validate(row.content)
        match = decision.match.model_copy(update={"band": MatchBand.alert, "confirmed": True})
        red_flags = index.screen(report, only_entry_ids=())  # the indicators only
        categories, risk = assess([match], red_flags.indicators, minors=report.minors, threshold=DEFAULT_THRESHOLD)
        result = to_result(report, Screening([match], red_flags.indicators, categories, risk), retro=False)
        if announced is None:
            s.add(AnnouncedMatch(report_id=decision.report_id, entry_id=decision.entry_id,
                                 entry_version=index.versions.get(decision.entry_id, 0), score=match.score,
                                 confirmed_at=now()))
        else:
            announced.confirmed_at = now()
        enqueue(s, ORIGIN, MATCHES.name, decision.report_id, result)
    log.info("possible match %s/%s confirmed by %s: published as a match", decision.report_id, decision.entry_id,
             decision.by)
    return True

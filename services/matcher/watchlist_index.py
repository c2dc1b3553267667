"""The in-memory watchlist the matcher screens against.

Built from the database snapshot at start, then kept current from watchlist.v1. Each change
carries the entry version; an older or repeated change is ignored, so replaying the topic from
the beginning (the embedded broker keeps no offsets across restarts) is harmless."""
from __future__ import annotations

import logging
import threading

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.matcher.screening import ScreeningEngine
from services.matcher.screening.model import REVIEW_THRESHOLD
from shared.models import MatchSuppression, WatchlistEntryRow
from shared.schemas import WatchlistEntry

log = logging.getLogger(__name__)


class WatchlistIndex:
    def __init__(self, review_threshold: float = REVIEW_THRESHOLD) -> None:
        """review_threshold: the lowest score screened for (possible matches from there up to
        the alert threshold go to reviewers)."""
        self.review_threshold = review_threshold
        self.engine = ScreeningEngine()
        # deleted entries too: a tombstone's version must stick. The entries themselves live
        # only in the engine's index (a pydantic copy of each cost ~2 KB an entry)
        self.versions: dict[str, int] = {}
        self.ready = False
        self.suppressed: frozenset[tuple[str, str]] = frozenset()
        self._suppressions_seen: tuple[int, int | None] = (0, None)
        # Screening runs in worker threads while changes arrive on the event loop.
        self._lock = threading.RLock()

    def screen(self, report, **options):
        options.setdefault("min_score", self.review_threshold)
        with self._lock:
            return self.engine.screen(report, suppressed=self.suppressed, **options)

    def refresh_suppressions(self, sessions: sessionmaker[Session]) -> None:
        """Reload reviewers' false-positive decisions when there are new ones (one cheap query
        per batch; they are few and only ever added)."""
        with sessions() as s:
            seen = tuple(s.execute(select(func.count(), func.max(MatchSuppression.id))).one())
            if seen == self._suppressions_seen:
                return
            pairs = frozenset(s.execute(select(MatchSuppression.entry_id, MatchSuppression.value_key)).tuples())
        self.suppressed, self._suppressions_seen = pairs, seen

    def load_snapshot(self, sessions: sessionmaker[Session]) -> int:
        """Build the index from the database. Rows stream into the index a thousand at a time
        and each entry is dropped once indexed: a million rows and their pydantic entries
        held at once would take several times the index's own memory."""
        loaded = 0

        def active_entries(s: Session):
            nonlocal loaded
            for row in s.execute(select(WatchlistEntryRow).execution_options(yield_per=1000)).scalars():
                self.versions[row.id] = row.version
                if not row.deleted and row.data.get("status", "active") == "active":
                    loaded += 1
                    yield WatchlistEntry(**row.data, id=row.id, version=row.version, updated_at=row.updated_at)

        with sessions() as s:
            engine = ScreeningEngine(active_entries(s))
        with self._lock:
            self.engine, replaced = engine, self.engine
        replaced.close()
        self.ready = True
        return loaded

    def apply(self, entry_id: str, version: int, entry: WatchlistEntry | None) -> bool:
        """Apply one change; True if it changed the index (and so may need re-screening)."""
        with self._lock:
            if version <= self.versions.get(entry_id, 0):
                return False
            self.versions[entry_id] = version
            if entry is None or entry.status != "active":  # deleted or retired: no longer screened
                self.engine.remove(entry_id)
            else:
                self.engine.upsert(entry)
            return True

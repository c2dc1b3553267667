"""The matcher's index built from the database snapshot, on SQLite and on a fresh PostgreSQL
database: rows stream in (more than one fetch batch here), deleted and retired entries are
not screened but their versions stick, and an older change arriving afterwards is ignored."""
from __future__ import annotations


from services.matcher.watchlist_index import WatchlistIndex
from shared.models import WatchlistEntryRow
from shared.schemas import ReportContent, WatchlistEntry


def _row(i: int, *, deleted: bool = False, status: str = "active") -> dict:
    return {"id": f"w{i}", "version": 3, "deleted": deleted,
            "data": {"kind": "agency", "name": f"PT Nusa Kirana {i}", "phones": [f"0812{i:08d}"], "status": status}}


def test_snapshot_streams_every_active_entry_and_keeps_versions(sessions):
    rows = [_row(i, deleted=i % 100 == 1, status="retired" if i % 100 == 2 else "active") for i in range(2500)]
    with sessions() as s:
        s.execute(WatchlistEntryRow.__table__.insert(), rows)
        s.commit()
    index = WatchlistIndex()
    assert index.load_snapshot(sessions) == 2500 - 50
    assert len(index.engine) == 2450 and index.ready
    assert len(index.versions) == 2500  # deleted and retired too
    found = index.screen(ReportContent(phones=["0812 0000 2345"]))
    assert [m.entry_id for m in found.matches] == ["w2345"]
    for gone in ("w2301", "w2302"):  # deleted, retired
        assert not index.screen(ReportContent(phones=[f"0812{int(gone[1:]):08d}"])).matches
    stale = WatchlistEntry(id="w2345", kind="agency", name="PT Lain", version=2)
    assert not index.apply("w2345", 2, stale)  # older than the snapshot's version
    assert index.apply("w2345", 4, None)  # a newer deletion
    assert not index.screen(ReportContent(phones=["081200002345"])).matches

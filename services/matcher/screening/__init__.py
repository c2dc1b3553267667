# TEMPORARY local stub for integration testing (not in repo)
from dataclasses import dataclass, field
from shared.schemas import Match, Evidence, RiskLevel
import re
DEFAULT_THRESHOLD = 0.8
def digits(p): 
    d = re.sub(r"\D", "", p)
    if d.startswith("0"): d = "62" + d[1:]
    return d
@dataclass
class Screening:
    matches: list; indicators: list; categories: list; risk_level: RiskLevel
class ScreeningEngine:
    def __init__(self, entries=()):
        self.entries = {e.id: e for e in entries}
    def upsert(self, e): self.entries[e.id] = e
    def remove(self, i): self.entries.pop(i, None)
    def __len__(self): return len(self.entries)
    def screen(self, report, *, min_score=None, only_entry_ids=None):
        out = []
        for e in self.entries.values():
            if only_entry_ids is not None and e.id not in only_entry_ids: continue
            ev = []
            names = [e.name.lower()] + [a.lower() for a in e.aliases]
            for n in report.agency_names + report.recruiter_names:
                if n.lower() in names: ev.append(Evidence(field="agency_names", report_value=n, entry_value=n, method="exact", score=1.0))
            for p in report.phones:
                if digits(p) in {digits(x) for x in e.phones}: ev.append(Evidence(field="phones", report_value=p, entry_value=p, method="phone", score=1.0))
            if ev: out.append(Match(entry_id=e.id, entry_name=e.name, kind=e.kind, score=1.0, evidence=ev))
        cats = (["watchlist_match"] if out else []) + (["minor"] if getattr(report, "minors", False) else [])
        return Screening(out, [], cats, RiskLevel.high if out else RiskLevel.low)

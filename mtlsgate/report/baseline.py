"""Compare two runs' JSON reports: what regressed (pass -> fail), what was fixed, what coverage was lost.

Rows are keyed by (check id, TLS version, target). A waived failure still fails the
check, so waiving is not a fix and losing a waiver is not a regression: the comparison is
about the target's behaviour, and the gate about the run. A check that decided before and
does not now (pass -> skip, or any verdict that decides nothing) is *lost coverage*: listed,
never silent, but not a regression (the target did not get worse; the run saw less of it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

GOOD = {"pass", "warn"}
BAD = {"fail", "waived"}
Key = tuple[str, str, str]


@dataclass(frozen=True)
class Change:
    id: str
    tls_version: str
    target: str
    before: str
    after: str
    evidence: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "tls_version": self.tls_version, "target": self.target, "before": self.before,
                "after": self.after, "evidence": self.evidence}

    def line(self) -> str:
        return f"{self.id} [TLS {self.tls_version}] on {self.target}: {self.before} -> {self.after} ({self.evidence})"


@dataclass(frozen=True)
class Comparison:
    baseline: str
    regressions: tuple[Change, ...]
    fixes: tuple[Change, ...]
    new: int  # checks only in the new run
    gone: int  # checks only in the baseline
    lost: tuple[Change, ...] = ()  # decided before (pass, warn), not decided now (skip, unsupported, ...)

    def to_dict(self) -> dict[str, Any]:
        return {"baseline": self.baseline, "regressions": [c.to_dict() for c in self.regressions],
                "fixes": [c.to_dict() for c in self.fixes], "lost_coverage": [c.to_dict() for c in self.lost],
                "new_checks": self.new, "missing_checks": self.gone}

    def lines(self) -> list[str]:
        out = [f"compared with {self.baseline}: {len(self.regressions)} regression(s), {len(self.fixes)} fix(es)"
               + (f", {self.new} new check(s)" if self.new else "")
               + (f", {len(self.lost)} check(s) lost coverage" if self.lost else "")
               + (f", {self.gone} check(s) not run this time" if self.gone else "")]
        out += [f"REGRESSED {c.line()}" for c in self.regressions]
        out += [f"FIXED     {c.line()}" for c in self.fixes]
        out += [f"LOST      {c.line()}" for c in self.lost]
        return out


def load_report(path: Path, flag: str = "") -> dict[str, Any]:
    """A report written by mtlsgate, or one ``UsageError`` line saying why it is not one."""
    where = f"{flag} {path}".strip()
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{where}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("checks"), list) or "schema_version" not in data:
        raise UsageError(f"{where}: not an mtlsgate.json report (no schema_version and checks)")
    for row in data["checks"]:
        if not isinstance(row, dict) or not all(isinstance(row.get(k), str)
                                                for k in ("id", "tls_version", "target", "verdict")):
            raise UsageError(f"{where}: a check row lacks id, tls_version, target or verdict")
    return data


def _rows(report: dict[str, Any], by_target: bool) -> dict[Key, dict[str, Any]]:
    return {(r["id"], r["tls_version"], r["target"] if by_target else ""): r for r in report["checks"]}


def _evidence(row: dict[str, Any]) -> str:
    outcome = row.get("outcome")
    return outcome["summary"] if isinstance(outcome, dict) and outcome.get("summary") else row.get("reason", "")


def compare(old: dict[str, Any], new: dict[str, Any], name: str = "baseline") -> Comparison:
    # One target on each side (yesterday's URL vs today's, nginx vs its variant): compare by check
    # and TLS version alone; with several targets a row is only comparable with the same target's.
    by_target = not (len({r["target"] for r in old["checks"]}) <= 1 and len({r["target"] for r in new["checks"]}) <= 1)
    before, after = _rows(old, by_target), _rows(new, by_target)
    regressions, fixes, lost = [], [], []
    for key in sorted(before.keys() & after.keys()):
        was, now = before[key]["verdict"], after[key]["verdict"]
        change = Change(key[0], key[1], after[key]["target"], was, now, _evidence(after[key]))
        if was in GOOD and now in BAD:
            regressions.append(change)
        elif was in BAD and now in GOOD:
            fixes.append(change)
        elif was in GOOD and now not in GOOD | BAD:  # skip, unsupported, or a verdict that decides nothing
            lost.append(Change(key[0], key[1], after[key]["target"], was, now, after[key].get("reason", "")))
    return Comparison(name, tuple(regressions), tuple(fixes), len(after.keys() - before.keys()),
                      len(before.keys() - after.keys()), tuple(lost))


__all__ = ["GOOD", "BAD", "Key", "Change", "Comparison", "load_report", "compare"]

"""What a run amounts to: its facts (:class:`RunInfo`), the tally of verdicts and the headline.

Every report format reads these, so they live apart from the writers: the HTML page and the
Markdown summary must never disagree about whether a run passed.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..judge import NOT_APPLICABLE  # defined where checks can reach it; every report counts it

#: ``waived``: a failure a waiver accepts (reported as XFAIL); counted apart from ``fail``.
#: ``inconclusive``: the check ran but its answer proves nothing (certificate not sent, valid
#: sibling refused too); never a pass, never fails the run.
VERDICT_ORDER = ("fail", "waived", "warn", "inconclusive", "unsupported", "skip", "pass")
#: Verdicts that decide something about the target. Every other one (inconclusive, skip,
#: unsupported, and any verdict this module does not know) means the check did not decide:
#: it lowers the coverage.
DECISIVE = frozenset({"pass", "warn", "fail", "waived"})


@dataclass
class RunInfo:
    targets: list[dict[str, Any]]
    profile: str
    started_at: float
    duration_s: float
    aborted: str | None = None  # the one line that stopped the run, if it was stopped
    interrupted: bool = False
    waivers: dict[str, Any] | None = None  # waivers.review(): used, expired, stale, not_run
    comparison: dict[str, Any] | None = None  # baseline.Comparison.to_dict()
    extra: dict[str, Any] = field(default_factory=dict)
    #: checks selected for the run that never started (interrupted, stopped): id, tls_version, target, reason
    not_run: list[dict[str, str]] = field(default_factory=list)
    require_all: bool = False  # --require-all: a check that did not decide fails the run

    @property
    def expired_waivers(self) -> list[dict[str, Any]]:
        return list((self.waivers or {}).get("expired", []))


def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    tally = Counter(r["verdict"] for r in records)
    return {v: tally.get(v, 0) for v in VERDICT_ORDER}


def run_status(records: list[dict[str, Any]], info: RunInfo) -> str:
    """FAILED, INCOMPLETE or PASSED: the one word every report leads with.

    INCOMPLETE (never green): the run was interrupted or stopped, a selected check never
    started, or no check decided anything. Under ``--require-all`` a check that did not decide
    (skipped, unsupported, ...) fails the run.
    """
    tally = counts(records)
    if tally["fail"] or info.expired_waivers:
        return "FAILED"
    cov = coverage(records, info)
    if info.aborted or info.interrupted or info.not_run or not cov["ran"]:
        return "INCOMPLETE"
    if info.require_all and cov["ran"] < cov["total"]:
        return "FAILED"
    return "PASSED"


def coverage(records: list[dict[str, Any]], info: RunInfo) -> dict[str, Any]:
    """How much of the selected run decided something: totals and the reasons the rest did not."""
    applicable = [r for r in records if r.get("observed") != NOT_APPLICABLE]
    undecided = [r for r in applicable if r["verdict"] not in DECISIVE]
    reasons = Counter(_short(r.get("reason", "")) for r in undecided)
    return {"total": len(applicable) + len(info.not_run), "ran": len(applicable) - len(undecided),
            "skipped": len(undecided), "not_run": len(info.not_run),
            "not_applicable": len(records) - len(applicable),
            "reasons": [{"reason": k, "count": n} for k, n in reasons.most_common()]}


def coverage_line(records: list[dict[str, Any]], info: RunInfo, *, reasons: int = 3) -> str:
    """"58 of 72 checks ran; 14 skipped: 10 × ..., 4 × ...; 3 not run (interrupted)" for every headline."""
    cov = coverage(records, info)
    line = f"{cov['ran']} of {cov['total']} checks ran"
    if cov["skipped"]:
        shown = [f"{r['count']} × {r['reason']}" for r in cov["reasons"][:reasons]]
        more = len(cov["reasons"]) - reasons
        line += f"; {cov['skipped']} skipped: " + ", ".join(shown) + (f", {more} other reason(s)" if more > 0 else "")
    if cov["not_run"]:
        why = "interrupted" if info.interrupted else "stopped" if info.aborted else "not started"
        line += f"; {cov['not_run']} not run ({why})"
    if cov["not_applicable"]:
        line += f" ({cov['not_applicable']} more not applicable: transports the target does not offer)"
    return line


def _short(reason: str) -> str:
    """A skip reason without the check-specific prefix, so that equal causes group together."""
    text = " ".join(reason.split())
    return text if len(text) <= 90 else text[:87] + "..."


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and a rename: a reader (or a concurrent run) never sees half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["DECISIVE", "NOT_APPLICABLE", "VERDICT_ORDER", "RunInfo", "counts", "coverage", "coverage_line", "run_status",
           "write_atomic"]

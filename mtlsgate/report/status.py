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

#: ``waived``: a failure a waiver accepts (reported as XFAIL); counted apart from ``fail``.
#: ``inconclusive``: the check ran but its answer proves nothing (certificate not sent, valid
#: sibling refused too); never a pass, never fails the run.
VERDICT_ORDER = ("fail", "waived", "warn", "inconclusive", "unsupported", "skip", "pass")


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

    @property
    def expired_waivers(self) -> list[dict[str, Any]]:
        return list((self.waivers or {}).get("expired", []))


def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    tally = Counter(r["verdict"] for r in records)
    return {v: tally.get(v, 0) for v in VERDICT_ORDER}


def run_status(records: list[dict[str, Any]], info: RunInfo) -> str:
    tally = counts(records)
    if info.aborted:
        return "ABORTED"
    if tally["fail"] or info.expired_waivers:
        return "FAILED"
    if not tally["pass"]:
        return "NO CHECK PASSED"  # nothing ran, or everything was skipped: never a green summary
    return "PASSED"


def write_atomic(path: Path, data: bytes) -> None:
    """Write via a temporary file and a rename: a reader (or a concurrent run) never sees half a report."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["VERDICT_ORDER", "RunInfo", "counts", "run_status", "write_atomic"]

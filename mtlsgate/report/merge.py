"""One report set from a sharded run: ``mtlsgate merge OUT_DIR shard*/mtlsgate.json``.

A fleet audited across machines (a CI matrix, a Kubernetes Indexed Job) leaves one
``mtlsgate.json`` per shard; people and CI gates want one page. A merge that silently lost a
shard, or counted a target twice, would report a fleet as audited when it was not — so
every shard must be present once (each report says which shard of how many it was, and the
whole target list) and no target may appear in two reports; otherwise the merge refuses in
one line.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .baseline import load_report
from .status import RunInfo


def merge_reports(reports: Sequence[tuple[Path, dict[str, Any]]], out_dir: Path) -> tuple[list[dict[str, Any]], RunInfo]:
    """The merged rows and run facts; raises UsageError (one line) on duplicate, missing or mixed shards."""
    if not reports:
        raise UsageError("merge: give at least one mtlsgate.json")
    owner: dict[str, Path] = {}
    infos: dict[str, dict[str, Any]] = {}
    for path, report in reports:
        names = [t["name"] for t in report["targets"] if isinstance(t, dict) and isinstance(t.get("name"), str)]
        names += sorted({r["target"] for r in report["checks"]} - set(names))
        for name in names:
            if name in owner:
                raise UsageError(f"merge: target {name} is in both {owner[name]} and {path} (a shard given twice, "
                                 "or shards of different splits)")
            owner[name] = path
        infos.update({t["name"]: t for t in report["targets"] if isinstance(t, dict) and "name" in t})
    order = _check_shards(reports, owner)
    records: list[dict[str, Any]] = []
    for path, report in reports:
        records += [_relocate(row, path.parent, out_dir) for row in report["checks"]]
    targets = [infos.get(name, {"name": name}) for name in order]
    starts = [_time(report["started_at"]) for _, report in reports]
    ends = [s + float(report["duration_s"]) for s, (_, report) in zip(starts, reports, strict=True)]
    aborted = [f"{path}: {report['aborted']}" for path, report in reports if report.get("aborted")]
    profiles = sorted({r["profile"] for r in records if isinstance(r.get("profile"), str)})
    info = RunInfo(targets=targets, profile=", ".join(profiles) or "default", started_at=min(starts),
                   duration_s=max(ends) - min(starts), aborted="; ".join(aborted) or None,
                   interrupted=any(report.get("interrupted") for _, report in reports),
                   waivers=_merge_waivers([r.get("waivers") for _, r in reports]),
                   comparison=_merge_comparisons([r.get("comparison") for _, r in reports]),
                   extra={"merged_from": [str(path) for path, _ in reports]},
                   # an interrupted shard's checks that never started: the merged run did not run them either
                   not_run=[n for _, r in reports for n in (r.get("not_run") or []) if isinstance(n, dict)],
                   require_all=any(r.get("require_all") for _, r in reports))
    return records, info


def _check_shards(reports: Sequence[tuple[Path, dict[str, Any]]], owner: dict[str, Path]) -> list[str]:
    """Every shard of one split present once, together covering its whole target list; the targets in order."""
    shards = [(path, report.get("shard")) for path, report in reports]
    if not any(s for _, s in shards):
        return list(owner)  # reports of separate runs: nothing says what is missing
    plain = next((path for path, s in shards if not s), None)
    if plain is not None:
        raise UsageError(f"merge: {plain} is not a shard (no --shard) but the others are")
    first_path, first = shards[0]
    seen: dict[int, Path] = {}
    for path, s in shards:
        if s["count"] != first["count"] or s["targets"] != first["targets"]:
            raise UsageError(f"merge: {path} is shard {s['index']}/{s['count']} of another split than {first_path} "
                             f"(shard {first['index']}/{first['count']}): different shard count or target list")
        if s["index"] in seen:
            raise UsageError(f"merge: shard {s['index']}/{s['count']} is given twice: {seen[s['index']]} and {path}")
        seen[s["index"]] = path
    missing = [k for k in range(1, first["count"] + 1) if k not in seen]
    if missing:
        raise UsageError(f"merge: shard {missing[0]}/{first['count']} is missing ({len(missing)} of "
                         f"{first['count']} missing); the merged report would not cover the fleet")
    absent = [t for t in first["targets"] if t not in owner]
    if absent:
        raise UsageError(f"merge: target {absent[0]} is in no shard's report ({len(absent)} missing)")
    extra = [t for t in owner if t not in first["targets"]]
    if extra:
        raise UsageError(f"merge: target {extra[0]} is not in the shards' target list")
    return list(first["targets"])


def _relocate(row: dict[str, Any], shard_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Reproducer paths are relative to the shard's reports directory: make them relative to the merged one."""
    def moved(rel: str) -> str:
        if os.path.isabs(rel):
            return rel
        return os.path.relpath(shard_dir / rel, out_dir)

    row = dict(row)
    if isinstance(row.get("repro"), str):
        row["repro"] = moved(row["repro"])
    fuzz = row.get("fuzz")
    if isinstance(fuzz, dict) and isinstance(fuzz.get("disagreements"), list):
        row["fuzz"] = dict(fuzz, disagreements=[dict(d, reproducer=moved(d["reproducer"]))
                                                if isinstance(d.get("reproducer"), str) else d
                                                for d in fuzz["disagreements"]])
    return row


def _time(iso: str) -> float:
    try:
        return dt.datetime.fromisoformat(iso).timestamp()
    except (TypeError, ValueError):
        raise UsageError(f"merge: started_at {iso!r} is not an ISO time") from None


def _merge_waivers(reviews: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """A waiver is used or expired if it is so in any shard, stale if used nowhere and stale somewhere."""
    given = [r for r in reviews if r]
    if not given:
        return None
    state: dict[str, tuple[str, dict[str, Any]]] = {}
    rank = {"expired": 0, "used": 1, "stale": 2, "not_run": 3}
    for review in given:
        for kind in rank:
            for w in review.get(kind, []):
                key = json.dumps({k: v for k, v in w.items() if k not in ("waived", "failures")}, sort_keys=True)
                old = state.get(key)
                if old is None or rank[kind] < rank[old[0]]:
                    state[key] = (kind, dict(w))
                elif old[0] == kind and kind in ("used", "expired"):
                    field = "waived" if kind == "used" else "failures"
                    old[1][field] = sorted(set(old[1].get(field, [])) | set(w.get(field, [])))
    merged: dict[str, Any] = {kind: [] for kind in rank}
    for kind, entry in state.values():
        merged[kind].append(entry)
    return merged


def _merge_comparisons(comparisons: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    given = [c for c in comparisons if c]
    if not given:
        return None
    return {"baseline": ", ".join(sorted({c["baseline"] for c in given})),
            "regressions": [x for c in given for x in c["regressions"]],
            "fixes": [x for c in given for x in c["fixes"]],
            "new_checks": sum(c["new_checks"] for c in given), "missing_checks": sum(c["missing_checks"] for c in given)}


def load_shards(paths: Sequence[Path]) -> list[tuple[Path, dict[str, Any]]]:
    """Each shard's report, read and checked (one UsageError line for the first that is not a report)."""
    out = []
    for path in paths:
        report = load_report(path)
        shard = report.get("shard")
        if shard is not None and not (isinstance(shard, dict) and isinstance(shard.get("index"), int)
                                      and isinstance(shard.get("count"), int) and isinstance(shard.get("targets"), list)):
            raise UsageError(f"{path}: its shard is not {{index, count, targets}}")
        if not isinstance(report.get("targets"), list) or not isinstance(report.get("started_at"), str):
            raise UsageError(f"{path}: not an mtlsgate.json report (no targets or started_at)")
        out.append((path, report))
    return out


__all__ = ["load_shards", "merge_reports"]

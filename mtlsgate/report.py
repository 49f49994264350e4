"""The run's reports: JUnit XML for CI, versioned JSON with every verdict's evidence, Markdown summary.

Reports are written from :class:`~mtlsgate.gate.CheckRecord` rows only; they carry
outcomes, certificate summaries and fingerprints, and never key material.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__

SCHEMA_VERSION = "1.0"
VERDICT_ORDER = ("fail", "warn", "unsupported", "skip", "pass")


@dataclass
class RunInfo:
    targets: list[dict[str, Any]]
    profile: str
    started_at: float
    duration_s: float
    aborted: str | None = None  # the one line that stopped the run, if it was stopped
    interrupted: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def counts(records: Iterable[dict[str, Any]]) -> dict[str, int]:
    tally = Counter(r["verdict"] for r in records)
    return {v: tally.get(v, 0) for v in VERDICT_ORDER}


def build_json(records: list[dict[str, Any]], info: RunInfo) -> dict[str, Any]:
    ordered = sorted(records, key=lambda r: (r["target"], r["id"], r["tls_version"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mtlsgate", "version": __version__, "python": platform.python_version()},
        "started_at": dt.datetime.fromtimestamp(info.started_at, dt.UTC).isoformat(),
        "duration_s": round(info.duration_s, 3),
        "profile": info.profile,
        "targets": info.targets,
        "aborted": info.aborted,
        "interrupted": info.interrupted,
        "counts": counts(ordered),
        "checks": ordered,
        **info.extra,
    }


def build_junit(records: list[dict[str, Any]], info: RunInfo) -> ET.ElementTree:
    root = ET.Element("testsuites", name="mtlsgate")
    by_target: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_target.setdefault(r["target"], []).append(r)
    if info.aborted and not records:
        by_target.setdefault(", ".join(t["name"] for t in info.targets) or "mtlsgate", [])
    for target, rows in by_target.items():
        tally = counts(rows)
        suite = ET.SubElement(root, "testsuite", name=f"mtlsgate {target}", tests=str(len(rows) + bool(info.aborted)),
                              failures=str(tally["fail"] + bool(info.aborted)),
                              skipped=str(tally["skip"] + tally["unsupported"]), errors="0",
                              time=f"{sum(r['duration_ms'] for r in rows) / 1000:.3f}")
        if info.aborted:
            case = ET.SubElement(suite, "testcase", classname="preflight", name="mode.client-auth-required")
            ET.SubElement(case, "failure", message=info.aborted).text = info.aborted
        for r in sorted(rows, key=lambda r: (r["id"], r["tls_version"])):
            case = ET.SubElement(suite, "testcase", classname=f"{r['group']}",
                                 name=f"{r['id']}[tls{r['tls_version']}]", time=f"{r['duration_ms'] / 1000:.3f}")
            if r["verdict"] == "fail":
                ET.SubElement(case, "failure", message=r["reason"]).text = _evidence_text(r)
            elif r["verdict"] in ("skip", "unsupported"):
                ET.SubElement(case, "skipped", message=r["reason"])
            else:
                ET.SubElement(case, "system-out").text = _evidence_text(r)
    ET.indent(root)
    return ET.ElementTree(root)


def _evidence_text(r: dict[str, Any]) -> str:
    lines = [f"verdict: {r['verdict']}", f"client presents: {r['presents']}", f"reason: {r['reason']}"]
    if r.get("outcome"):
        lines.append(f"outcome: {r['outcome']['summary']}")
        if r["outcome"].get("evidence", {}).get("detail"):
            lines.append(f"detail: {r['outcome']['evidence']['detail']}")
    if r.get("baseline"):
        lines.append(f"valid client: {r['baseline']['summary']}")
    return "\n".join(lines)


def build_summary(records: list[dict[str, Any]], info: RunInfo) -> str:
    tally = counts(records)
    targets = ", ".join(t["name"] for t in info.targets) or "(none)"
    if info.aborted:
        status = "ABORTED"
    elif tally["fail"]:
        status = "FAILED"
    elif not tally["pass"]:
        status = "NO CHECK PASSED"  # nothing ran, or everything was skipped: never a green summary
    else:
        status = "PASSED"
    lines = [
        f"# mtlsgate: {status}",
        "",
        f"Target: {targets} · profile `{info.profile}` · {info.duration_s:.1f} s · "
        + " · ".join(f"{n} {v}" for v, n in tally.items() if n),
        "",
    ]
    if info.aborted:
        lines += [f"**The run was stopped:** {info.aborted}", ""]
    if info.interrupted:
        lines += ["**The run was interrupted; the report is partial.**", ""]
    if records:
        lines += ["| verdict | check | TLS | target | evidence |", "| --- | --- | --- | --- | --- |"]
        rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
        for r in sorted(records, key=lambda r: (rank.get(r["verdict"], 9), r["id"], r["tls_version"], r["target"])):
            evidence = r["outcome"]["summary"] if r.get("outcome") else r["reason"]
            lines.append(f"| {r['verdict'].upper()} | `{r['id']}` | {r['tls_version']} | {r['target']} | "
                         f"{_md(evidence)} |")
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_reports(directory: Path, records: list[dict[str, Any]], info: RunInfo) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "mtlsgate.json",
        "junit": directory / "junit.xml",
        "summary": directory / "summary.md",
    }
    _atomic(paths["json"], json.dumps(build_json(records, info), indent=2).encode())
    tree = build_junit(records, info)
    tmp = paths["junit"].with_suffix(".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, paths["junit"])
    _atomic(paths["summary"], build_summary(records, info).encode())
    return paths


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

"""The run's reports: JUnit XML for CI, versioned JSON with every verdict's evidence, Markdown summary, HTML.

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

#: Version of ``mtlsgate.json`` (docs/schema/mtlsgate.schema.json): minor for added fields, major for breaks.
SCHEMA_VERSION = "1.1"
#: ``waived``: a failure a waiver accepts (reported as XFAIL); counted apart from ``fail``.
VERDICT_ORDER = ("fail", "waived", "warn", "unsupported", "skip", "pass")


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
        "waivers": info.waivers,
        "comparison": info.comparison,
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
            elif r["verdict"] == "waived":
                ET.SubElement(case, "skipped", type="pytest.xfail", message=f"waived: {r['reason']}")
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
    if r.get("repro"):
        lines.append(f"reproducer: {r['repro']}")
    if r.get("log_excerpt"):
        lines.append("target log:\n" + r["log_excerpt"])
    for attempt in r.get("attempts") or []:
        lines.append(f"attempt [{attempt['verdict']}] {attempt['label']}: {attempt['reason']}")
    if r.get("backend_headers") is not None:
        lines.append("backend received: " + ("; ".join(f"{k}: {v}" for k, v in r["backend_headers"]) or "(none)"))
    return "\n".join(lines)


def run_status(records: list[dict[str, Any]], info: RunInfo) -> str:
    tally = counts(records)
    if info.aborted:
        return "ABORTED"
    if tally["fail"] or info.expired_waivers:
        return "FAILED"
    if not tally["pass"]:
        return "NO CHECK PASSED"  # nothing ran, or everything was skipped: never a green summary
    return "PASSED"


def _evidence_cell(r: dict[str, Any]) -> str:
    text = r["outcome"]["summary"] if r.get("outcome") else r["reason"]
    if r.get("repro"):
        text += f" · reproducer `{r['repro']}`"
    return _md(text)


def _rank(r: dict[str, Any]) -> tuple[Any, ...]:
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    return rank.get(r["verdict"], 9), r["id"], r["tls_version"], r["target"]


def build_summary(records: list[dict[str, Any]], info: RunInfo) -> str:
    """Markdown for a CI job page: what failed comes first, then waivers and the baseline, then every check."""
    tally = counts(records)
    targets = ", ".join(t["name"] for t in info.targets) or "(none)"
    lines = [
        f"# mtlsgate: {run_status(records, info)}",
        "",
        f"Target: {targets} · profile `{info.profile}` · {info.duration_s:.1f} s · "
        + " · ".join(f"{n} {v}" for v, n in tally.items() if n),
        "",
    ]
    if info.aborted:
        lines += [f"**The run was stopped:** {info.aborted}", ""]
    if info.interrupted:
        lines += ["**The run was interrupted; the report is partial.**", ""]
    failing = [r for r in sorted(records, key=_rank) if r["verdict"] == "fail"]
    if failing:
        lines += [f"## Failing checks ({len(failing)})", "", "| check | TLS | target | why | evidence |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{r['id']}` | {r['tls_version']} | {r['target']} | {_md(r['reason'])} | {_evidence_cell(r)} |"
                  for r in failing]
        lines.append("")
    review = info.waivers or {}
    if review.get("expired"):
        lines += ["## Expired waivers (the run fails until they are renewed or removed)", ""]
        lines += [f"- `{w['check']}`{_scope(w)}: expired {w['expires']} (owner {w['owner']}): {_md(w['reason'])}"
                  for w in review["expired"]]
        lines.append("")
    waived = [r for r in sorted(records, key=_rank) if r["verdict"] == "waived"]
    if waived:
        lines += [f"## Waived failures ({len(waived)})", "", "| check | TLS | target | waiver | evidence |",
                  "| --- | --- | --- | --- | --- |"]
        for r in waived:
            w = r.get("waiver") or {}
            lines.append(f"| `{r['id']}` | {r['tls_version']} | {r['target']} | {_md(w.get('reason', ''))} "
                         f"({_md(w.get('owner', '?'))}, until {w.get('expires', '?')}) | {_evidence_cell(r)} |")
        lines.append("")
    if review.get("stale"):
        lines += ["## Stale waivers (they match no failure any more: remove them)", ""]
        lines += [f"- `{w['check']}`{_scope(w)} (owner {w['owner']}): {_md(w['reason'])}" for w in review["stale"]]
        lines.append("")
    if review.get("not_run"):
        lines += ["Waivers whose checks did not run: "
                  + ", ".join(f"`{w['check']}`{_scope(w)}" for w in review["not_run"]), ""]
    cmp = info.comparison
    if cmp is not None:
        lines += [f"## Compared with `{cmp['baseline']}`", "",
                  f"{len(cmp['regressions'])} regression(s), {len(cmp['fixes'])} fix(es)"
                  + (f", {cmp['new_checks']} new check(s)" if cmp["new_checks"] else "")
                  + (f", {cmp['missing_checks']} check(s) not run this time" if cmp["missing_checks"] else ""), ""]
        for title, rows in (("Regressed", cmp["regressions"]), ("Fixed", cmp["fixes"])):
            lines += [f"- **{title}** `{c['id']}` TLS {c['tls_version']} on {c['target']}: {c['before']} → "
                      f"{c['after']} ({_md(c['evidence'])})" for c in rows]
        lines.append("")
    if records:
        lines += ["## All checks", "", "| verdict | check | TLS | target | evidence |", "| --- | --- | --- | --- | --- |"]
        for r in sorted(records, key=_rank):
            lines.append(f"| {r['verdict'].upper()} | `{r['id']}` | {r['tls_version']} | {r['target']} | "
                         f"{_evidence_cell(r)} |")
    lines += _fuzz_section(records)
    lines += _backend_section(records)
    return "\n".join(lines) + "\n"


def _scope(w: dict[str, Any]) -> str:
    """" TLS 1.2 on local:nginx" for a narrowed waiver, "" for one that covers every version and target."""
    return "".join(p for p in ((f" TLS {w['tls_version']}" if w.get("tls_version") else ""),
                               (f" on {w['target']}" if w.get("target") else "")))


def _fuzz_section(records: list[dict[str, Any]]) -> list[str]:
    """Examples run per campaign, and a link to every reproducer (paths relative to this file)."""
    fuzzed = sorted((r for r in records if r.get("fuzz")), key=lambda r: (r["target"], r["tls_version"]))
    if not fuzzed:
        return []
    lines = ["", "## Fuzz (`fuzz.oracle-agreement`)", ""]
    for r in fuzzed:
        f = r["fuzz"]
        rate = f" · {f['examples_per_second']} examples/s" if f.get("examples_per_second") else ""
        lines.append(f"- {r['target']} TLS {r['tls_version']} (profile `{f['profile']}`): {_md(r['observed'])}{rate}")
        for d in f.get("disagreements", []):
            where = f"[{d['reproducer']}]({d['reproducer']})" if d.get("reproducer") else "(not written)"
            lines.append(f"  - {d['kind']} in {', '.join(d['differs_from_valid_in']) or 'a valid chain'}: {where}")
    return lines


def _backend_section(records: list[dict[str, Any]]) -> list[str]:
    """Per header check, the identity headers the echo backend received: a leak is visible here."""
    rows = [r for r in records if r.get("backend_headers") is not None]
    if not rows:
        return []
    lines = ["", "## What the backend received (header checks)", ""]
    for r in sorted(rows, key=lambda r: (r["target"], r["id"], r["tls_version"])):
        lines.append(f"- **{r['verdict'].upper()}** `{r['id']}` TLS {r['tls_version']} on {r['target']}:")
        for name, value in r["backend_headers"] or [("(no identity header reached the backend)", "")]:
            lines.append(f"  - `{_md(name)}: {_md(value)}`")
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_reports(directory: Path, records: list[dict[str, Any]], info: RunInfo) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "mtlsgate.json",
        "junit": directory / "junit.xml",
        "summary": directory / "summary.md",
        "html": directory / "index.html",
    }
    _atomic(paths["json"], json.dumps(build_json(records, info), indent=2).encode())
    tree = build_junit(records, info)
    tmp = paths["junit"].with_suffix(".tmp")
    tree.write(tmp, encoding="utf-8", xml_declaration=True)
    os.replace(tmp, paths["junit"])
    _atomic(paths["summary"], build_summary(records, info).encode())
    from .htmlreport import build_html  # it builds on this module's counts() and run_status()

    _atomic(paths["html"], build_html(records, info).encode())
    return paths


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)

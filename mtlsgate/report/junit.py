"""``junit.xml``: one testcase per check and TLS version, the evidence in the failure text, for CI annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from .status import DECISIVE, RunInfo, counts


def build_junit(records: list[dict[str, Any]], info: RunInfo) -> ET.ElementTree:
    root = ET.Element("testsuites", name="mtlsgate")
    by_target: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_target.setdefault(r["target"], []).append(r)
    not_run: dict[str, list[dict[str, str]]] = {}
    for n in info.not_run:  # counted as skipped, with the reason: a partial run never looks complete
        not_run.setdefault(n["target"], []).append(n)
        by_target.setdefault(n["target"], [])
    if info.aborted and not by_target:
        by_target.setdefault(", ".join(t["name"] for t in info.targets) or "mtlsgate", [])
    for target, rows in by_target.items():
        tally = counts(rows)
        undecided = sum(1 for r in rows if r["verdict"] not in DECISIVE)  # skip, unsupported, any newer verdict
        missing = sorted(not_run.get(target, []), key=lambda n: (n["id"], n["tls_version"]))
        suite = ET.SubElement(root, "testsuite", name=f"mtlsgate {target}",
                              tests=str(len(rows) + len(missing) + bool(info.aborted)),
                              failures=str(tally["fail"] + bool(info.aborted)),
                              skipped=str(undecided + len(missing)), errors="0",
                              time=f"{sum(r['duration_ms'] for r in rows) / 1000:.3f}")
        for n in missing:
            case = ET.SubElement(suite, "testcase", classname="not-run", name=f"{n['id']}[tls{n['tls_version']}]")
            ET.SubElement(case, "skipped", message=n["reason"])
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
            elif r["verdict"] == "inconclusive":
                ET.SubElement(case, "skipped", message=f"inconclusive: {r['reason']}").text = _evidence_text(r)
            elif r["verdict"] not in DECISIVE:
                ET.SubElement(case, "skipped", message=r["reason"])
            else:
                ET.SubElement(case, "system-out").text = _evidence_text(r)
    ET.indent(root)
    return ET.ElementTree(root)


def _evidence_text(r: dict[str, Any]) -> str:
    lines = [f"verdict: {r['verdict']}", f"client presents: {r['presents']}", f"reason: {r['reason']}"]
    if r.get("outcome"):
        lines.append(f"outcome: {r['outcome']['summary']}")
        sent = r["outcome"].get("evidence", {}).get("certificate_sent")
        if sent is False:
            lines.append("certificate sent: none")
        elif isinstance(sent, dict):
            lines.append(f"certificate sent: {sent.get('subject')} (sha256 {sent.get('sha256')})")
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


__all__ = ["build_junit"]

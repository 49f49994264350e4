"""``summary.md`` for a CI job page: what failed first, then waivers and the baseline, then every check."""

from __future__ import annotations

from typing import Any

from .status import DECISIVE, VERDICT_ORDER, RunInfo, counts, coverage_line, run_status


def _evidence_cell(r: dict[str, Any]) -> str:
    """The one outcome when it is the evidence; else the reason (a skip, a multi-attempt check, a campaign).

    A skipped check's ``outcome`` is what the valid client got, and a multi-attempt check's
    (``trust.ca-names``, the bypass checks) is only one of its attempts: neither is the evidence.
    """
    single = r.get("outcome") and r["verdict"] in DECISIVE and not r.get("attempts") and not r.get("fuzz")
    text = r["outcome"]["summary"] if single else r["reason"]
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
        f"**{_md(coverage_line(records, info))}**" + (" · `--require-all`" if info.require_all else ""),
        "",
        f"Target: {targets} · profile `{info.profile}` · {info.duration_s:.1f} s · "
        + " · ".join(f"{n} {v}" for v, n in tally.items() if n),
        "",
    ]
    products = [(t["name"], t["product"]) for t in info.targets if t.get("product")]
    if products:
        lines += [f"- {name}: {_md(p.get('product') or 'product not recognised')} ({p.get('source')}: "
                  f"{_md(p.get('why') or '')}) → profile `{p.get('profile')}`" for name, p in products]
        lines.append("")
    if info.aborted:
        lines += [f"**ABORTED — the run was stopped:** {_md(info.aborted)}", ""]
    if len({r["target"] for r in records} | {t["name"] for t in info.targets}) > 1:
        lines += ["## Targets", "", *(f"- {line}" for line in target_lines(records, info)), ""]
    if info.interrupted:
        lines += ["**The run was interrupted; the report is partial.**", ""]
    failing = [r for r in sorted(records, key=_rank) if r["verdict"] == "fail"]
    if failing:
        lines += [f"## Failing checks ({len(failing)})", "", "| check | TLS | target | why | evidence |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{r['id']}` | {r['tls_version']} | {r['target']} | {_md(r['reason'])} | {_evidence_cell(r)} |"
                  for r in failing]
        lines.append("")
    inconclusive = [r for r in sorted(records, key=_rank) if r["verdict"] == "inconclusive"]
    if inconclusive:
        lines += [f"## Inconclusive checks ({len(inconclusive)}: they ran, but their answer proves nothing)", "",
                  "| check | TLS | target | why | evidence |", "| --- | --- | --- | --- | --- |"]
        lines += [f"| `{r['id']}` | {r['tls_version']} | {r['target']} | {_md(r['reason'])} | {_evidence_cell(r)} |"
                  for r in inconclusive]
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
                  + (f", {len(cmp.get('lost_coverage') or [])} check(s) lost coverage"
                     if cmp.get("lost_coverage") else "")
                  + (f", {cmp['missing_checks']} check(s) not run this time" if cmp["missing_checks"] else ""), ""]
        for title, rows in (("Regressed", cmp["regressions"]), ("Fixed", cmp["fixes"]),
                            ("Lost coverage", cmp.get("lost_coverage") or [])):
            lines += [f"- **{title}** `{c['id']}` TLS {c['tls_version']} on {c['target']}: {c['before']} → "
                      f"{c['after']} ({_md(c['evidence'])})" for c in rows]
        lines.append("")
    if info.not_run:
        lines += [f"## Not run ({len(info.not_run)})", "", "| check | TLS | target | why |", "| --- | --- | --- | --- |"]
        lines += [f"| `{n['id']}` | {n['tls_version']} | {n['target']} | {_md(n['reason'])} |" for n in info.not_run]
        lines.append("")
    if records:
        lines += ["## All checks", "", "| verdict | check | TLS | target | evidence |", "| --- | --- | --- | --- | --- |"]
        for r in sorted(records, key=_rank):
            lines.append(f"| {r['verdict'].upper()} | `{r['id']}` | {r['tls_version']} | {r['target']} | "
                         f"{_evidence_cell(r)} |")
    lines += _fuzz_section(records)
    lines += _backend_section(records)
    return "\n".join(lines) + "\n"


def target_lines(records: list[dict[str, Any]], info: RunInfo) -> list[str]:
    """One line per target, the failing (and untestable) ones first, each with its failing check ids (triage)."""
    names = [t["name"] for t in info.targets]
    names += sorted({r["target"] for r in records} - set(names))
    untestable = {t["name"]: t["untestable"] for t in info.targets if t.get("untestable")}
    by_target: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in records:  # one pass: a fleet has thousands of rows and hundreds of targets
        by_target[r["target"]].append(r)
    lines = []
    for position, name in enumerate(names):
        rows = by_target[name]
        failing = sorted({r["id"] for r in rows if r["verdict"] == "fail"})
        tally = counts(rows)
        if name in untestable:
            lines.append((0, position, f"UNTESTABLE {name}: {untestable[name]}"))
            continue
        if failing:
            status = "FAILED"
        elif tally["pass"]:
            status = "PASSED"
        else:
            status = "NO CHECK PASSED"
        shown = ", ".join(f"{n} {v}" for v, n in tally.items() if n) or "no check ran"
        line = f"{status} {name} ({shown})" + (f": {', '.join(failing)}" if failing else "")
        lines.append((0 if failing else 1 if status != "PASSED" else 2, position, line))
    return [line for _, _, line in sorted(lines)]


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


__all__ = ["build_summary", "target_lines"]

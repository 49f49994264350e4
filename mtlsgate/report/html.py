"""``index.html``: the run as a matrix people read — check × TLS version × target, each cell its evidence.

One self-contained file (inline CSS and a few lines of JS, no fetches), so it can be
attached to a CI job as an artifact and opened anywhere. Failing cells are red and listed
first; every cell opens (``<details>``) to the outcome that decided it. Opening the page
with ``#open-failures`` opens every failing cell (the self-test uses this in Chromium).
"""

from __future__ import annotations

import datetime as dt
import html
import platform
import re
from pathlib import Path
from typing import Any

from .. import __version__
from .status import VERDICT_ORDER, RunInfo, counts, coverage_line, run_status

_CSS = """
:root{--fail:#c62828;--fail-bg:#fdecea;--pass:#2e7d32;--pass-bg:#e8f5e9;--warn:#b26a00;--warn-bg:#fff4e0;
--waived:#6a1b9a;--waived-bg:#f3e5f5;--skip:#616161;--skip-bg:#f1f1f1;--unsupported:#757575;--unsupported-bg:#fafafa;
--inconclusive:#0d47a1;--inconclusive-bg:#e8eef8}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d1d1f;background:#fff}
header{padding:16px 24px;border-bottom:1px solid #ddd;background:#fafafa}
h1{margin:0 0 6px;font-size:20px}h1 .coverage{font-size:13px;font-weight:normal;vertical-align:2px}
h1 .status{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-size:15px;vertical-align:2px}
.status.FAILED,.status.ABORTED,.status.INCOMPLETE{background:var(--fail)}.status.PASSED{background:var(--pass)}
.status.NO-CHECK-PASSED{background:var(--warn)}
.meta{display:flex;flex-wrap:wrap;gap:4px 22px;color:#444}
.meta b{color:#1d1d1f;font-weight:600}
.counts{margin-top:10px;display:flex;gap:8px;flex-wrap:wrap}
.count{padding:3px 10px;border-radius:12px;font-weight:600;border:1px solid transparent}
.count.zero{opacity:.45}
main{padding:16px 24px}
h2{font-size:16px;margin:18px 0 8px}
.banner{padding:10px 14px;border-radius:6px;margin:8px 0;background:var(--fail-bg);border:1px solid var(--fail);color:#7f1d1d}
.banner.note{background:#f5f5f5;border-color:#bbb;color:#333}
ul.failing{margin:4px 0;padding-left:20px}ul.failing li{margin:2px 0}
ul.failing a{color:var(--fail);font-weight:600}
table.matrix{border-collapse:collapse;width:100%;table-layout:auto}
.matrix th,.matrix td{border:1px solid #ddd;padding:3px 6px;vertical-align:top;text-align:left}
.matrix thead th{background:#f5f5f5;position:sticky;top:0;z-index:1}
.matrix th.check{white-space:nowrap;font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12.5px;font-weight:500}
.matrix tr.group th{background:#eef1f5;font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:#445}
td.cell{min-width:120px}
td.v-fail{background:var(--fail-bg)}td.v-pass{background:var(--pass-bg)}td.v-warn{background:var(--warn-bg)}
td.v-waived{background:var(--waived-bg)}td.v-skip{background:var(--skip-bg)}td.v-unsupported{background:var(--unsupported-bg)}
td.v-inconclusive{background:var(--inconclusive-bg)}
td.v-none{color:#aaa;text-align:center}
details>summary{cursor:pointer;font-weight:700;list-style:none;display:flex;gap:6px;align-items:baseline}
details>summary::-webkit-details-marker{display:none}
details>summary::before{content:"\\25B8";color:#888;font-size:11px}details[open]>summary::before{content:"\\25BE"}
summary .ms{font-weight:400;color:#666;font-size:12px}
.v-fail summary{color:var(--fail)}.v-pass summary{color:var(--pass)}.v-warn summary{color:var(--warn)}
.v-waived summary{color:var(--waived)}.v-skip summary{color:var(--skip)}.v-unsupported summary{color:var(--unsupported)}
.v-inconclusive summary{color:var(--inconclusive)}
.count.fail{background:var(--fail-bg);color:var(--fail);border-color:var(--fail)}.count.pass{background:var(--pass-bg);color:var(--pass)}
.count.warn{background:var(--warn-bg);color:var(--warn)}.count.waived{background:var(--waived-bg);color:var(--waived)}
.count.skip{background:var(--skip-bg);color:var(--skip)}.count.unsupported{background:var(--unsupported-bg);color:var(--unsupported)}
.count.inconclusive{background:var(--inconclusive-bg);color:var(--inconclusive)}
.evidence{margin:6px 0 2px;font-size:12.5px;max-width:640px}
.evidence dl{display:grid;grid-template-columns:max-content 1fr;gap:1px 10px;margin:0}
.evidence dt{color:#555}.evidence dd{margin:0;word-break:break-word}
.evidence pre{background:#1e1e1e;color:#eee;padding:6px 8px;border-radius:4px;max-height:220px;overflow:auto;
white-space:pre-wrap;font-size:11.5px;margin:4px 0}
.evidence h4{margin:6px 0 2px;font-size:12px;color:#333}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.toolbar{display:flex;gap:8px;margin:8px 0 10px}
button{font:inherit;padding:3px 10px;border:1px solid #bbb;border-radius:4px;background:#fff;cursor:pointer}
body.only-problems tr.row.clean{display:none}
footer{padding:12px 24px;color:#777;font-size:12px}
"""

# Opens every failing cell, measures that its evidence is laid out, and records the numbers on
# <body> (data-expanded, data-expanded-visible, data-fail-colour, data-rendered-cells): the
# self-test reads them from Chromium's DOM, so they prove what the browser rendered.
_JS = """
(function(){
  function expandFailures(){
    var cells=document.querySelectorAll('td.v-fail details'),visible=0;
    cells.forEach(function(d){d.open=true;var e=d.querySelector('.evidence');
      if(e&&e.getBoundingClientRect().height>0){visible++;}});
    document.body.setAttribute('data-expanded',String(cells.length));
    document.body.setAttribute('data-expanded-visible',String(visible));
    var s=document.querySelector('td.v-fail summary');
    if(s){document.body.setAttribute('data-fail-colour',getComputedStyle(s).color);}
  }
  document.getElementById('expand-failures').addEventListener('click',expandFailures);
  document.getElementById('collapse-all').addEventListener('click',function(){
    document.querySelectorAll('details').forEach(function(d){d.open=false;});});
  document.getElementById('only-problems').addEventListener('click',function(){
    document.body.classList.toggle('only-problems');});
  var rendered={};document.querySelectorAll('td.cell[data-verdict]').forEach(function(td){
    var v=td.getAttribute('data-verdict');rendered[v]=(rendered[v]||0)+1;});
  document.body.setAttribute('data-rendered-cells',JSON.stringify(rendered));
  if(location.hash==='#open-failures'){expandFailures();}
})();
"""


_ESCAPED = re.compile("[&<>\"']")
_NOT_ALNUM = re.compile(r"[\W_]")  # str.isalnum's complement: \w is isalnum plus "_"


def _e(value: Any) -> str:
    """``html.escape`` (quotes too); most values need none, and a fleet's page has ~170 000 of them."""
    text = "" if value is None else str(value)
    return html.escape(text, quote=True) if _ESCAPED.search(text) else text


def _cell_id(r: dict[str, Any]) -> str:
    return "c-" + _NOT_ALNUM.sub("-", f"{r['id']}-{r['tls_version']}-{r['target']}")


def _href(path: str) -> str:
    """A reproducer path as a link: relative paths stay relative to the reports directory."""
    p = Path(path)
    return p.as_uri() if p.is_absolute() else path


def _dl(rows: list[tuple[str, Any]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows if v not in (None, "", []))
    return f"<dl>{items}</dl>" if items else ""


def _outcome_rows(o: dict[str, Any]) -> list[tuple[str, Any]]:
    ev = o.get("evidence") or {}
    return [
        ("outcome", _e(o.get("summary"))),
        ("alert", _e(o.get("alert")) if o.get("alert") else None),
        ("phase", _e(o.get("phase")) if o.get("phase") else None),
        ("HTTP status", _e(o.get("status")) if o.get("status") is not None else None),
        ("body marker", _e(o.get("marker")) if o.get("marker") else None),
        ("TLS", _e(" · ".join(str(x) for x in (ev.get("tls_version"), ev.get("cipher")) if x)) or None),
        ("SNI / Host", _e(f"{ev.get('server_name') or '(none)'} / {ev.get('host_header') or ''}")
         if ev.get("server_name") or ev.get("host_header") else None),
        ("time", _e(f"{ev['elapsed_ms']:.1f} ms") if isinstance(ev.get("elapsed_ms"), (int, float)) else None),
        ("certificate sent", _sent(ev.get("certificate_sent"))),
        ("detail", f"<code>{_e(ev.get('detail'))}</code>" if ev.get("detail") else None),
    ]


def _sent(sent: Any) -> str | None:
    """What the client actually put on the wire (None: not known)."""
    if sent is False:
        return "none (the client sent an empty Certificate message)"
    if isinstance(sent, dict):
        return _e(f"{sent.get('subject')} · SHA-256 {sent.get('sha256', '')[:16]}… · {sent.get('chain_length')} cert(s)")
    return None


def _certificate_rows(c: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("subject", _e(c.get("subject"))),
        ("issuer", _e(c.get("issuer"))),
        ("valid", _e(f"{c.get('not_before', '?')} → {c.get('not_after', '?')}")),
        ("key · hash", _e(f"{c.get('key')} · {c.get('signature_hash')}")),
        ("CA", _e(c.get("ca")) if c.get("ca") is not None else None),
        ("EKU", _e(", ".join(c["eku"])) if c.get("eku") else None),
        ("chain sent", _e(" ← ".join(c["chain_sent"])) if c.get("chain_sent") else "(leaf only)"),
        ("SHA-256", f"<code>{_e(c.get('sha256'))}</code>"),
    ]


def _evidence(r: dict[str, Any]) -> str:
    parts = [_dl([
        ("verdict", _e(r["verdict"].upper())),
        ("why", _e(r.get("reason"))),
        ("expected · observed", _e(f"{r.get('expected')} · {r.get('observed')}")),
        ("client presents", _e(r.get("presents"))),
        ("profile", _e(r.get("profile"))),
        ("check time", _e(f"{r['duration_ms']:.1f} ms") if r.get("duration_ms") else None),
    ])]
    w = r.get("waiver")
    if w:
        parts.append("<h4>Waiver</h4>" + _dl([("reason", _e(w.get("reason"))), ("owner", _e(w.get("owner"))),
                                                ("expires", _e(w.get("expires")))]))
    if r.get("outcome"):
        parts.append("<h4>What the target did</h4>" + _dl(_outcome_rows(r["outcome"])))
    if r.get("baseline"):
        parts.append("<h4>A valid client got</h4>" + _dl([("outcome", _e(r["baseline"].get("summary")))]))
    if r.get("certificate"):
        parts.append("<h4>Certificate presented</h4>" + _dl(_certificate_rows(r["certificate"])))
    if r.get("repro"):
        parts.append(f'<h4>Reproducer</h4><a class="repro" href="{_e(_href(r["repro"]))}">{_e(r["repro"])}</a>')
    if r.get("log_excerpt"):
        parts.append(f"<h4>Target log during the check</h4><pre>{_e(r['log_excerpt'])}</pre>")
    return f'<div class="evidence">{"".join(parts)}</div>'


def _cell(r: dict[str, Any] | None) -> str:
    if r is None:
        return '<td class="cell v-none">—</td>'
    v = r["verdict"]
    took = r.get("duration_ms") or 0
    ms = f'<span class="ms">{f"{took:.0f}" if took >= 0.5 else "<1"} ms</span>' if took else ""
    return (f'<td class="cell v-{_e(v)}" id="{_cell_id(r)}" data-verdict="{_e(v)}"><details>'
            f"<summary>{_e(v.upper())}{ms}</summary>{_evidence(r)}</details></td>")


def _product_line(product: dict[str, Any]) -> str:
    """What the suite took the target for, and why (``--profile auto``)."""
    name = product.get("product") or "product not recognised"
    return f"{name} ({product.get('source')}: {product.get('why')}) -> profile {product.get('profile')}"


def _header(records: list[dict[str, Any]], info: RunInfo) -> str:
    status = run_status(records, info)
    tally = counts(records)
    started = dt.datetime.fromtimestamp(info.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    targets = []
    for t in info.targets:
        bits = [t.get("kind"), t.get("endpoint"), t.get("version") and f"version {t['version']}",
                t.get("variant") and f"variant {t['variant']}"]
        extra = ", ".join(str(b) for b in bits if b)
        product = t.get("product")
        if product:
            extra += (", " if extra else "") + _product_line(product)
        targets.append(f"<b>{_e(t['name'])}</b>" + (f" ({_e(extra)})" if extra else ""))
    meta = [
        ("Targets", "; ".join(targets) or "(none)"),
        ("Profile", f"<b>{_e(info.profile)}</b>"),
        ("Tool", f"<b>mtlsgate {_e(__version__)}</b> · Python {_e(platform.python_version())}"),
        ("Started", _e(started)),
        ("Duration", f"<b>{info.duration_s:.1f} s</b>"),
        ("Checks", f'<b id="total-checks">{len(records)}</b>'),
    ]
    count_html = "".join(f'<span class="count {v}{"" if n else " zero"}" data-verdict="{v}">{v} <span class="n" id="count-{v}">{n}'
                         f"</span></span>" for v, n in tally.items())
    return (f'<header><h1>mtlsgate <span class="status {status.replace(" ", "-")}" id="run-status">{_e(status)}'
            f'</span> <span class="coverage" id="coverage">{_e(coverage_line(records, info))}'
            + (" · --require-all" if info.require_all else "") + '</span></h1><div class="meta">'
            + "".join(f"<span>{k}: {v}</span>" for k, v in meta)
            + f'</div><div class="counts">{count_html}</div></header>')


def _banners(records: list[dict[str, Any]], info: RunInfo) -> str:
    out = []
    if info.aborted:
        out.append(f'<div class="banner"><b>The run was stopped:</b> {_e(info.aborted)}</div>')
    if info.interrupted:
        out.append('<div class="banner">The run was interrupted; the report is partial.</div>')
    if info.not_run:
        items = "".join(f"<li>{_e(n['id'])} TLS {_e(n['tls_version'])} on {_e(n['target'])}: {_e(n['reason'])}</li>"
                        for n in info.not_run)
        out.append(f'<div class="banner" id="not-run"><b>{len(info.not_run)} check(s) not run</b>'
                   f'<ul class="failing">{items}</ul></div>')
    failing = sorted((r for r in records if r["verdict"] == "fail"), key=lambda r: (r["id"], r["tls_version"]))
    if failing:
        items = "".join(f'<li><a href="#{_cell_id(r)}">{_e(r["id"])}</a> {_e(_transport(r["tls_version"]))} on '
                        f'{_e(r["target"])}: {_e(r["reason"])}</li>' for r in failing)
        out.append(f'<div class="banner" id="failing"><b>{len(failing)} failing check(s)</b>'
                   f'<ul class="failing">{items}</ul></div>')
    review = info.waivers or {}
    for w in review.get("expired", []):
        out.append(f'<div class="banner"><b>Expired waiver</b> {_e(w["check"])}: expired {_e(w["expires"])} '
                   f'(owner {_e(w["owner"])}) — {_e(w["reason"])}. The run fails until it is renewed or removed.</div>')
    for w in review.get("stale", []):
        out.append(f'<div class="banner note"><b>Stale waiver</b> {_e(w["check"])} (owner {_e(w["owner"])}) '
                   f"matches no failure any more: remove it.</div>")
    cmp = info.comparison
    if cmp is not None:
        rows = "".join(f"<li><b>{kind}</b> {_e(c['id'])} {_e(_transport(c['tls_version']))} on {_e(c['target'])}: "
                       f"{_e(c['before'])} → {_e(c['after'])}</li>"
                       for kind, key in (("regressed", "regressions"), ("fixed", "fixes"),
                                         ("lost coverage", "lost_coverage")) for c in cmp.get(key) or [])
        cls = "banner" if cmp["regressions"] else "banner note"
        out.append(f'<div class="{cls}" id="comparison"><b>Compared with {_e(cmp["baseline"])}:</b> '
                   f'{len(cmp["regressions"])} regression(s), {len(cmp["fixes"])} fix(es), '
                   f'{len(cmp.get("lost_coverage") or [])} lost coverage<ul>{rows}</ul></div>')
    return "".join(out)


def _transport(version: str | None) -> str:
    """The column a row sits in: ``TLS 1.3``, or ``QUIC`` (HTTP/3, TLS 1.3 inside QUIC)."""
    return "QUIC" if version == "quic" else f"TLS {version}"


def _matrix(records: list[dict[str, Any]], info: RunInfo) -> str:
    targets = [t["name"] for t in info.targets] or sorted({r["target"] for r in records})
    for r in records:
        if r["target"] not in targets:
            targets.append(r["target"])
    versions = sorted({r["tls_version"] for r in records}) or ["1.2", "1.3"]  # "quic" sorts last: its own column
    columns = [(t, v) for t in targets for v in versions]
    by_key = {(r["id"], r["tls_version"], r["target"]): r for r in records}
    groups: dict[str, list[str]] = {}
    for r in sorted(records, key=lambda r: (r["group"], r["id"])):
        ids = groups.setdefault(r["group"], [])
        if r["id"] not in ids:
            ids.append(r["id"])
    head = ('<thead><tr><th rowspan="2">check</th>'
            + "".join(f'<th colspan="{len(versions)}">{_e(t)}</th>' for t in targets)
            + "</tr><tr>" + "".join(f"<th>{_e(_transport(v))}</th>" for _, v in columns) + "</tr></thead>")
    body = []
    rank = {v: i for i, v in enumerate(VERDICT_ORDER)}
    for group in sorted(groups, key=lambda g: min(rank.get(r["verdict"], 9) for r in records if r["group"] == g)):
        body.append(f'<tr class="group"><th colspan="{len(columns) + 1}">{_e(group)}</th></tr>')
        for cid in groups[group]:
            cells = [by_key.get((cid, v, t)) for t, v in columns]
            clean = all(c is None or c["verdict"] in ("pass", "skip", "unsupported") for c in cells)
            body.append(f'<tr class="row{" clean" if clean else ""}"><th class="check">{_e(cid)}</th>'
                        + "".join(_cell(c) for c in cells) + "</tr>")
    return f'<table class="matrix">{head}<tbody>{"".join(body)}</tbody></table>'


def build_html(records: list[dict[str, Any]], info: RunInfo) -> str:
    status = run_status(records, info)
    toolbar = ('<div class="toolbar"><button id="expand-failures">Expand failures</button>'
               '<button id="collapse-all">Collapse all</button>'
               '<button id="only-problems">Only problems</button></div>')
    matrix = _matrix(records, info) if records else "<p>No check ran.</p>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>mtlsgate: {_e(status)}</title><style>{_CSS}</style></head><body>"
            + _header(records, info)
            + f"<main>{_banners(records, info)}<h2>Checks × TLS version × target</h2>{toolbar}{matrix}</main>"
            + "<footer>Written by mtlsgate; the same data is in mtlsgate.json (schema "
            + "docs/schema/mtlsgate.schema.json). Private keys are never written to reports.</footer>"
            + f"<script>{_JS}</script></body></html>\n")


__all__ = ["build_html"]

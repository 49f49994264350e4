"""Release gating as CI sees it: failing checks on top, waivers, baselines, the HTML page in a real browser.

A mutant (the reference target, or a real nginx, with one mistake) gives failures whose
ids are known; the tests follow one release-gating story: red, waived green, expired red.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from reportschema import validate_report

from mtlsgate import cli
from mtlsgate.errors import UsageError
from mtlsgate.report import RunInfo, build_json, build_summary
from mtlsgate.report.html import build_html
from mtlsgate.report.logtail import excerpt, scrub
from mtlsgate.report.progress import LiveStatus
from mtlsgate.report.waivers import load as load_waivers
from mtlsgate.targets.local import binary_for
from mtlsgate.targets.provision import in_ci

REVOKED = "reject.revoked"


def _waivers(path: Path, *rows: str) -> Path:
    path.write_text("\n".join(f"[[waiver]]\n{row}\n" for row in rows))
    return path


def _waiver(check: str = REVOKED, expires: str = "2099-12-31", extra: str = "") -> str:
    return f'check = "{check}"\nreason = "CRL rollout tracked in OPS-42"\nowner = "edge-team"\nexpires = {expires}\n{extra}'


def test_a_mutant_fails_on_top_then_a_waiver_turns_it_green_and_an_expired_one_red_again(run_suite, tmp_path):
    red = run_suite("--reference-mutant", "no-crl")
    assert red.exit_code == 1 and red.failed == {REVOKED}
    summary = (red.reports / "summary.md").read_text()
    assert summary.startswith("# mtlsgate: FAILED")
    first_table_row = summary.split("## Failing checks (2)", 1)[1].split("|\n|", 2)[2]
    assert first_table_row.startswith(" `reject.revoked` | 1.2 | reference | should be rejected")
    page = (red.reports / "index.html").read_text()
    assert page.count('class="cell v-fail"') == 2 and 'id="count-fail">2<' in page
    _a_records_reproducer_is_linked(red.report)

    waived = run_suite("--reference-mutant", "no-crl", "--waivers", str(_waivers(tmp_path / "w.toml", _waiver())))
    assert waived.exit_code == 0, waived.output
    assert re.search(r"\b2 xfailed\b", waived.output) and "CRL rollout tracked in OPS-42" in waived.output
    report = waived.report
    assert report["counts"]["fail"] == 0 and report["counts"]["waived"] == 2
    rows = [c for c in report["checks"] if c["id"] == REVOKED and c["tls_version"] != "quic"]  # reference: TCP-only
    assert {c["verdict"] for c in rows} == {"waived"}
    assert all(c["waiver"]["owner"] == "edge-team" and c["outcome"]["kind"] == "accepted" for c in rows)
    assert len(report["waivers"]["used"]) == 1 and not report["waivers"]["stale"]
    summary = (waived.reports / "summary.md").read_text()
    assert summary.startswith("# mtlsgate: PASSED") and "## Waived failures (2)" in summary
    assert "CRL rollout tracked in OPS-42 (edge-team, until 2099-12-31)" in summary
    assert (waived.reports / "junit.xml").read_text().count('type="pytest.xfail"') == 2

    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    expired = run_suite("--reference-mutant", "no-crl", "--waivers",
                        str(_waivers(tmp_path / "expired.toml", _waiver(expires=yesterday))))
    assert expired.exit_code == 1 and expired.failed == {REVOKED}
    assert f"waiver expired on {yesterday}" in expired.output and "expired waiver: reject.revoked" in expired.output
    assert expired.report["waivers"]["expired"][0]["failures"]
    assert "## Expired waivers" in (expired.reports / "summary.md").read_text()


def _a_records_reproducer_is_linked(report: dict) -> None:
    """Fuzzing (another module) adds ``repro`` to a record: the HTML links it, the summary names it."""
    records = [dict(c) for c in report["checks"]]
    failing = next(r for r in records if r["verdict"] == "fail")
    failing["repro"] = "repro/reject.revoked-tls1.2/replay.sh"
    info = RunInfo(targets=report["targets"], profile=report["profile"], started_at=0, duration_s=1.0)
    page = build_html(records, info)
    assert page.count('class="repro" href="repro/reject.revoked-tls1.2/replay.sh"') == 1
    assert "reproducer `repro/reject.revoked-tls1.2/replay.sh`" in build_summary(records, info)
    validate_report(build_json(records, info))


def test_an_expired_waiver_fails_even_a_green_run_and_a_stale_one_is_reported(run_suite, tmp_path):
    yesterday = (dt.date.today() - dt.timedelta(days=2)).isoformat()
    path = _waivers(tmp_path / "w.toml", _waiver("reject.expired", extra='tls_version = "1.3"'),
                    _waiver("reject.self-signed", expires=yesterday))
    run = run_suite("-k", "test_validity or test_trust", "--waivers", str(path))
    assert run.exit_code == 1, run.output
    assert not run.failed  # no check failed: the overdue waiver alone fails the run
    review = run.report["waivers"]
    assert [w["check"] for w in review["stale"]] == ["reject.expired"]
    assert [w["check"] for w in review["expired"]] == ["reject.self-signed"]
    summary = (run.reports / "summary.md").read_text()
    assert summary.startswith("# mtlsgate: FAILED") and "## Stale waivers" in summary
    assert "`reject.expired` TLS 1.3 (owner edge-team)" in summary


@pytest.mark.parametrize("body,needle", [
    ('[[waiver]]\ncheck = "reject.revoked"\nreason = "r"\nowner = "o"\nexpires = 2099-01-01\nticket = 1\n',
     "unknown key(s) ticket"),
    ('[[waiver]]\ncheck = "reject.revoked"\nreason = "r"\nowner = "o"\nexpires = "2099-01-01"\n', "TOML date"),
    ('[[waiver]]\ncheck = "reject.revoked"\nreason = "r"\nowner = "o"\nexpires = 2099-13-01\n', "not valid TOML"),
    ('[[waiver]]\ncheck = "reject.revokd"\nreason = "r"\nowner = "o"\nexpires = 2099-01-01\n', "unknown check id"),
    ('[[waiver]]\ncheck = "reject.revoked"\nreason = "r"\nexpires = 2099-01-01\n', "'owner' is required"),
    ('[[waiver]]\ncheck = "reject.revoked"\nreason = 3\nowner = "o"\nexpires = 2099-01-01\n', "'reason' must be"),
    ('[[waiver]]\ncheck = "reject.revoked"\ntls_version = "1.1"\nreason = "r"\nowner = "o"\nexpires = 2099-01-01\n',
     "'tls_version' must be one of"),
    ('[waivers]\n', "unknown top-level key(s) waivers"),
])
def test_a_bad_waiver_file_is_one_clear_line(tmp_path, body, needle):
    path = tmp_path / "w.toml"
    path.write_text(body)
    with pytest.raises(UsageError, match=re.escape(needle)) as info:
        load_waivers(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_a_bad_waiver_file_stops_pytest_with_usage_exit_4(run_suite, tmp_path):
    path = tmp_path / "w.toml"
    path.write_text('[[waiver]]\ncheck = "reject.revoked"\nreason = "r"\nowner = "o"\nexpires = "soon"\n')
    run = run_suite("--waivers", str(path))
    assert run.exit_code == 4, run.output
    assert "'expires' must be a TOML date" in run.output and "Traceback" not in run.output


def test_baseline_lists_regressions_and_fixes_and_mtlsgate_diff_agrees(run_suite, capsys):
    old = run_suite("--reference-mutant", "no-crl", "-k", "not test_missing")
    assert old.failed == {REVOKED}
    new = run_suite("--reference-mutant", "verify-optional", "--baseline", str(old.reports / "mtlsgate.json"))
    assert new.exit_code == 1
    cmp = new.report["comparison"]
    assert {(c["id"], c["before"], c["after"]) for c in cmp["fixes"]} == {(REVOKED, "fail", "pass")}
    assert {(c["id"], c["before"], c["after"]) for c in cmp["regressions"]} == {
        ("mode.client-auth-required", "pass", "fail")}
    # test_missing (reject.no-cert, which fails now, and reject.no-proof-of-possession) was not in the
    # baseline: new checks, not regressions (x 1.2, 1.3 and quic, skipped on the TCP-only reference).
    assert cmp["new_checks"] == 6
    summary = (new.reports / "summary.md").read_text()
    assert "**Fixed** `reject.revoked` TLS 1.2 on reference: fail → pass" in summary
    assert "**Regressed** `mode.client-auth-required` TLS 1.3 on reference: pass → fail" in summary

    old_json, new_json = str(old.reports / "mtlsgate.json"), str(new.reports / "mtlsgate.json")
    assert cli.main(["diff", old_json, new_json]) == 1
    out = capsys.readouterr().out
    assert "2 regression(s), 2 fix(es), 6 new check(s)" in out
    assert "REGRESSED mode.client-auth-required [TLS 1.2] on reference: pass -> fail" in out
    assert "FIXED     reject.revoked [TLS 1.3] on reference: fail -> pass" in out
    assert cli.main(["diff", new_json, new_json]) == 0
    assert "0 regression(s), 0 fix(es)" in capsys.readouterr().out
    assert cli.main(["diff", str(old.reports / "summary.md"), str(new.reports / "mtlsgate.json")]) == 2
    assert "not JSON" in capsys.readouterr().err


def test_a_bad_baseline_is_a_usage_error(run_suite, tmp_path):
    bad = tmp_path / "old.json"
    bad.write_text('{"checks": 3}')
    run = run_suite("--baseline", str(bad))
    assert run.exit_code == 4 and "not an mtlsgate.json report" in run.output


def test_live_status_counts_checks_per_target_from_node_ids():
    class Config:
        pluginmanager = None

        @staticmethod
        def getoption(name, default=None):
            return "off"

    status = LiveStatus(Config(), ["reference", "local:nginx"], ("1.2", "1.3"))  # type: ignore[arg-type]
    assert status.target_of("suites/test_x.py::test_y[local:nginx-tls1.3]") == "local:nginx"
    assert status.target_of("suites/test_x.py::test_y[reference-tls1.2]") == "reference"
    assert status.target_of("tests/test_pki.py::test_z") is None
    # under xdist's loadgroup the node ids carry the group: "...[local:nginx-tls1.3]@mtlsgate:local:nginx"
    assert status.target_of("suites/test_x.py::test_y[local:nginx-tls1.3]@mtlsgate:local:nginx") == "local:nginx"
    status._count(["a[reference-tls1.2]", "a[reference-tls1.3]", "a[local:nginx-tls1.2]"])
    assert status.line() == "mtlsgate: reference 0/2 (2 left) · local:nginx 0/1 (1 left)"
    quic = LiveStatus(Config(), ["local:caddy"], ("1.3", "quic"))  # type: ignore[arg-type]
    assert quic.target_of("suites/test_x.py::test_y[quic]") == quic.target_of("s::t[tls1.3]") == "local:caddy"


def test_live_status_is_written_when_asked_and_not_by_default_off_a_terminal(run_suite):
    on = run_suite("-k", "test_mode", "--live-status", "on")
    assert "mtlsgate: reference 3/3 (0 left)" in on.output  # TLS 1.2, 1.3 and QUIC (skipped: TCP-only)
    off = run_suite("-k", "test_mode")
    assert "left)" not in off.output


def test_log_excerpt_is_bounded_and_scrubbed(tmp_path):
    log = tmp_path / "lb.log"
    begin, end = "-----BEGIN " + "PRIVATE KEY-----", "-----END " + "PRIVATE KEY-----"  # a fake, split: no key in git
    key = f"{begin}\nMIIEv\n{end}"
    log.write_text("old line\n" * 500)
    offset = log.stat().st_size
    with log.open("a") as f:
        f.write("client sent no certificate\n" + key + "\n" + "x" * 9000 + "\nlast line\n")
    text = excerpt(log, offset)
    assert text is not None and "PRIVATE KEY" not in text and "MIIEv" not in text
    assert len(text) <= 4200 and text.endswith("last line") and "old line" not in text
    assert excerpt(log, log.stat().st_size).startswith("(nothing logged during this check")
    assert scrub("a\n-----BEGIN EC " + "PRIVATE KEY-----\nAAA") == "a\n[private key removed]"


# --------------------------------------------------------------------------- the HTML page in Chromium

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=1400,1100"]


def _chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if in_ci():
            pytest.fail("chromium is required under CI=true (apt-get install chromium)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return binary


def _browse(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run with a fresh profile; stopped by the timeout if it hangs."""
    profile.mkdir()
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=90)


def test_html_report_renders_counts_and_a_failing_cell_expands_in_chromium(run_suite, tmp_path):
    """A real nginx with no CRL: its failing cells carry the LB's own log lines as evidence.

    Chromium loads the page with ``#open-failures``; the page's script opens every failing
    cell, measures that the evidence was laid out (non-zero height) and records the numbers
    and the failing summary's computed colour on <body>, which ``--dump-dom`` then shows.
    """
    binary = _chromium()
    if binary_for("nginx") is None and not in_ci():
        pytest.skip("nginx not installed (apt-get install nginx)")
    run = run_suite("--target", "local:nginx:no-crl")
    assert run.exit_code == 1 and run.failed == {REVOKED}, run.output
    report = run.report
    failing = [c for c in report["checks"] if c["verdict"] == "fail"]
    assert all(c["log_excerpt"] and "PRIVATE KEY" not in c["log_excerpt"] for c in failing)
    assert report["targets"][0]["version"]  # the LB's version, for the header
    page = run.reports / "index.html"
    html_text = page.read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html_text)  # self-contained: nothing to fetch
    assert report["targets"][0]["version"] in html_text

    url = page.as_uri() + "#open-failures"
    dom = _browse(binary, tmp_path / "profile-dom", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body([^>]*)>", dom.stdout)
    assert body, dom.stdout[:500]
    attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', body.group(1)))
    assert attrs["data-expanded"] == "2" and attrs["data-expanded-visible"] == "2"
    assert attrs["data-fail-colour"] == "rgb(198, 40, 40)"  # red, as the browser computed it
    rendered = json.loads(attrs["data-rendered-cells"].replace("&quot;", '"'))
    assert rendered == {v: n for v, n in report["counts"].items() if n}
    for verdict, n in report["counts"].items():
        assert f'id="count-{verdict}">{n}<' in dom.stdout
    assert dom.stdout.count("<details open") == 2  # the two failing cells, now open
    assert re.search(r'id="run-status">FAILED<', dom.stdout)

    shot = tmp_path / "index.png"
    result = _browse(binary, tmp_path / "profile-shot", f"--screenshot={shot}", url)
    assert result.returncode == 0 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", result.stderr[-2000:]
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one
    print(f"screenshot: {shot}")


def test_the_json_report_is_indented_with_one_line_per_check(tmp_path):
    """People read the head; a fleet's thousands of rows go one per line (the C encoder, and diffs by row)."""
    from mtlsgate.gate import CheckRecord
    from mtlsgate.report.files import write_reports

    rows = [CheckRecord(id=f"reject.{n}", tls_version="1.3", target="t", group="trust", verdict="PASS",
                        expected="reject", observed="alert", reason="", presents="", outcome={"a": [n]}).to_dict()
            for n in ("expired", "no-cert")]
    info = RunInfo(started_at=0.0, duration_s=1.0, profile="default", targets=[{"name": "t"}])
    text = (write_reports(tmp_path, rows, info)["json"]).read_text()
    assert json.loads(text)["checks"] == rows
    assert text.startswith('{\n  "schema_version": ')
    lines = text.splitlines()
    start = lines.index('  "checks": [')
    assert [json.loads(line.rstrip(",")) for line in lines[start + 1:start + 3]] == rows
    assert lines[start + 3] in ("  ]", "  ],")


def test_an_outcome_converts_to_what_dataclasses_asdict_gives_with_kind_and_summary():
    """to_dict walks the outcome itself (asdict deep-copied every leaf of ~10 000 outcomes a fleet makes)."""
    from dataclasses import asdict

    from mtlsgate.wire import outcome as o

    evidence = o.Evidence(tls_version="TLSv1.3", requested_version="1.3", cipher="TLS_AES_128_GCM_SHA256",
                          certificate_sent=o.SentCertificate("CN=leaf", "ab" * 32, 2),
                          certificate_request_sigalgs=("ecdsa_secp256r1_sha256", "rsa_pss_rsae_sha256"))
    outcomes = [o.Accepted(200, (("x-ssl-client-verify", "SUCCESS"),), evidence), o.Accepted(204, None, evidence),
                o.RejectedTLS("certificate_required", "after-handshake", evidence), o.RejectedEOF("handshake"),
                o.RejectedHTTP(400, "No required SSL certificate was sent", evidence), o.Misdirected(),
                o.Unreachable("connection refused", o.Evidence(certificate_sent=False), transient=True)]
    for outcome in outcomes:
        expected = asdict(outcome) | {"kind": outcome.kind, "summary": o.describe(outcome)}
        if isinstance(outcome, o.Accepted) and outcome.echoed_headers is not None:
            expected["echoed_headers"] = [list(pair) for pair in outcome.echoed_headers]
        assert o.to_dict(outcome) == expected
        assert json.dumps(o.to_dict(outcome)) == json.dumps(expected)

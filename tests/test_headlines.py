"""Headlines say what the run did: INCOMPLETE when interrupted, stopped or undecided, coverage in every one.

Issue 12: an interrupted run (4 of 72 checks) was headlined PASSED in summary.md and the
HTML, with ``tests="4" failures="0"`` in JUnit; a run that skipped 52 checks read like a full
one; a baseline did not notice pass -> skip.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from reportschema import validate_report

from mtlsgate.report import RunInfo, build_html, build_junit, build_summary, compare, coverage_line, run_status
from mtlsgate.report.files import write_reports


def row(check: str, verdict: str, version: str = "1.3", reason: str = "why") -> dict[str, Any]:
    return {"id": check, "tls_version": version, "target": "reference", "group": check.split(".")[0],
            "verdict": verdict, "expected": "reject", "observed": "x", "reason": reason, "presents": "a leaf",
            "profile": "default", "outcome": None, "baseline": None, "certificate": None, "duration_ms": 1.0}


def info(**kw: Any) -> RunInfo:
    return RunInfo(targets=[{"name": "reference"}], profile="default", started_at=0.0, duration_s=1.0, **kw)


def test_interrupted_run_is_incomplete_everywhere_and_lists_what_did_not_run(tmp_path: Path) -> None:
    records = [row("reject.expired", "pass"), row("reject.rogue-ca", "pass")]
    missing = [{"id": "reject.revoked", "tls_version": "1.3", "target": "reference",
                "reason": "not run: the run was interrupted"}]
    run = info(interrupted=True, not_run=missing)
    assert run_status(records, run) == "INCOMPLETE"
    assert coverage_line(records, run) == "2 of 3 checks ran; 1 not run (interrupted)"
    summary = build_summary(records, run)
    assert summary.startswith("# mtlsgate: INCOMPLETE\n") and "PASSED" not in summary
    assert "| `reject.revoked` | 1.3 | reference | not run: the run was interrupted |" in summary
    html = build_html(records, run)
    assert 'class="status INCOMPLETE"' in html and "2 of 3 checks ran" in html and 'id="not-run"' in html
    suite = build_junit(records, run).getroot().find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "0", "1")
    skipped = [c for c in suite.iter("testcase") if c.find("skipped") is not None]
    assert [c.find("skipped").get("message") for c in skipped] == ["not run: the run was interrupted"]
    paths = write_reports(tmp_path, records, run)
    report = json.loads(paths["json"].read_text())
    validate_report({**report, "checks": []})  # the new top-level fields against the schema (rows here are sketches)
    assert report["status"] == "INCOMPLETE" and report["not_run"] == missing
    assert report["coverage"] == {"total": 3, "ran": 2, "skipped": 0, "not_run": 1, "not_applicable": 0, "reasons": []}
    ET.parse(paths["junit"])


def test_partial_coverage_is_in_the_headline_and_unknown_verdicts_do_not_count_as_run() -> None:
    records = [row("accept.valid-direct", "pass"), row("reject.expired", "skip", reason="needs the CA key"),
               row("reject.self-signed", "skip", reason="needs the CA key"),
               row("trust.ca-names", "inconclusive", reason="the evidence cannot decide")]
    run = info()
    assert run_status(records, run) == "PASSED"
    assert coverage_line(records, run) == ("1 of 4 checks ran; 3 skipped: 2 × needs the CA key, "
                                           "1 × the evidence cannot decide")
    assert "**1 of 4 checks ran; 3 skipped" in build_summary(records, run)
    assert run_status(records, info(require_all=True)) == "FAILED"
    assert run_status([row("reject.expired", "skip")], run) == "INCOMPLETE"  # nothing decided
    assert run_status(records + [row("reject.md5-signature", "fail")], info(interrupted=True)) == "FAILED"


def test_stopped_run_stays_incomplete_and_says_aborted() -> None:
    run = info(aborted="target reference cannot be tested: connection refused")
    assert run_status([], run) == "INCOMPLETE"
    assert "ABORTED" in build_summary([], run)


def test_baseline_reports_pass_to_skip_as_lost_coverage() -> None:
    old = {"checks": [row("reject.expired", "pass"), row("reject.revoked", "pass"), row("reject.md5-signature", "pass")]}
    new = {"checks": [row("reject.expired", "skip", reason="needs the CA key"), row("reject.revoked", "pass"),
                      row("reject.md5-signature", "inconclusive")]}
    cmp = compare(old, new, "old.json")
    assert not cmp.regressions and not cmp.fixes
    assert [(c.id, c.before, c.after) for c in cmp.lost] == [("reject.expired", "pass", "skip"),
                                                            ("reject.md5-signature", "pass", "inconclusive")]
    lines = cmp.lines()
    assert "2 check(s) lost coverage" in lines[0]
    assert any(line.startswith("LOST      reject.expired [TLS 1.3]") for line in lines)
    assert [c["id"] for c in cmp.to_dict()["lost_coverage"]] == ["reject.expired", "reject.md5-signature"]
    summary = build_summary(new["checks"], info(comparison=cmp.to_dict()))
    assert "- **Lost coverage** `reject.expired` TLS 1.3 on reference: pass → skip" in summary


def test_require_all_does_not_fail_a_target_that_offers_no_http2(run_suite) -> None:
    """The reference target serves HTTP/1.1 only: bypass.h2-coalescing has nothing to coalesce.

    Like a QUIC row of a target without HTTP/3 the row is not applicable (the reason in its
    evidence), out of the coverage, and --require-all passes; a real skip still fails it
    (test_suite_reference.py: the server CA key not given).
    """
    run = run_suite("--tls-version", "1.3", "--require-all", "-k", "http2 or expired_leaf")
    assert run.exit_code == 0, run.output
    report = run.report
    assert report["require_all"] is True and report["status"] == "PASSED"
    h2 = next(c for c in report["checks"] if c["id"] == "bypass.h2-coalescing")
    assert h2["verdict"] == "skip" and h2["observed"] == "not applicable", h2
    assert "does not offer HTTP/2 via ALPN" in h2["reason"] and h2["outcome"]["summary"].startswith("accepted")
    assert report["coverage"]["total"] == 1 and report["coverage"]["ran"] == 1
    assert report["coverage"]["not_applicable"] == 1


def test_one_run_at_a_time_per_reports_dir_and_old_reproducers_go(tmp_path: Path) -> None:
    import pytest

    from mtlsgate.errors import UsageError
    from mtlsgate.report import ReportsLock, clear_stale_reproducers

    first, second = ReportsLock(tmp_path / "reports"), ReportsLock(tmp_path / "reports")
    first.acquire()
    with pytest.raises(UsageError, match=r"another mtlsgate run \(pid \d+\) is writing its reports there"):
        second.acquire()
    first.release()
    second.acquire()  # free again once the first run has written its reports
    second.release()
    (tmp_path / "reports" / "repro" / "reject.expired-tls1.3").mkdir(parents=True)
    assert clear_stale_reproducers(tmp_path / "reports") == ["reject.expired-tls1.3"]
    assert not (tmp_path / "reports" / "repro").exists()

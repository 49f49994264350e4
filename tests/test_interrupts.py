"""Ctrl-C and SIGTERM mid-run: every LB and echo backend stopped, temp dirs gone, a partial report marked interrupted.

A real ``pytest --target local:nginx`` run is signalled while nginx is serving; nginx runs
in its own session, so only mtlsgate's own cleanup can stop it.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from test_hostile_targets import processes_mentioning

from conftest import ROOT
from mtlsgate.targets.local import binary_for

pytestmark = pytest.mark.skipif(binary_for("nginx") is None, reason="needs nginx (apt-get install nginx)")


def wait_for(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def default_signals() -> None:
    """In the child before exec: SIGINT and SIGTERM back to their defaults, unblocked.

    A shell runs a background job (``pytest tests &``) with SIGINT ignored, and an ignored
    disposition survives exec: the child would never see the signal (and Python installs its
    KeyboardInterrupt handler only when SIGINT starts as the default).
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def processes_with_env(name: str, value: str) -> list[int]:
    """The processes whose environment holds ``name=value`` (only this user's are readable)."""
    marker = f"{name}={value}".encode()
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_stops_nginx_and_writes_a_partial_report(tmp_path: Path, signum: int):
    tmpdir, reports = tmp_path / "tmp", tmp_path / "reports"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["TMPDIR"] = str(tmpdir)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                             "--target", "local:nginx", "--reports-dir", str(reports)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_signals)
    try:
        nginx_up = wait_for(lambda: any("nginx" in p for p in processes_mentioning(str(tmpdir))), 30)
        assert nginx_up, "nginx never started"
        time.sleep(0.3)  # into the preflight or the first checks
        proc.send_signal(signum)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    assert wait_for(lambda: not processes_mentioning(str(tmpdir)), 5), processes_mentioning(str(tmpdir))
    assert not list(tmpdir.iterdir()), list(tmpdir.iterdir())
    report = json.loads((reports / "mtlsgate.json").read_text())
    assert report["interrupted"] is True
    assert len(report["checks"]) < 50  # partial: the run did not finish
    summary = (reports / "summary.md").read_text()
    assert "interrupted" in summary
    assert summary.startswith("# mtlsgate: INCOMPLETE") and report["status"] == "INCOMPLETE"
    # every selected check (38 ids x 1.2, 1.3, quic) is either in the report or listed as not run; JUnit counts both
    assert len(report["checks"]) + len(report["not_run"]) == 114
    # Coverage counts every selected row but those the run already knew to be not applicable (a QUIC row of a
    # target that did not announce HTTP/3, a QUIC-only check over TCP): a row not run is never left out.
    not_applicable = [c for c in report["checks"] if c["observed"] == "not applicable"]
    assert all(c["verdict"] == "skip" and (c["tls_version"] == "quic" or c["id"].startswith("bypass.h3-"))
               for c in not_applicable), not_applicable
    assert report["coverage"]["not_applicable"] == len(not_applicable)
    assert report["coverage"]["total"] == 114 - len(not_applicable)
    assert report["coverage"]["not_run"] == len(report["not_run"])
    assert all(n["reason"] == "not run: the run was interrupted" for n in report["not_run"])
    assert_no_inapplicable_row_is_listed(report)
    junit = (reports / "junit.xml").read_text()
    assert junit.count('classname="not-run"') == len(report["not_run"])


#: The rows no run ever decides, whatever the target (gate/runner.py): the QUIC-only checks over TCP, and
#: over QUIC the checks made with TCP-only clients or of several requests on one connection (keep-alive).
QUIC_ONLY = ("bypass.h3-parity", "bypass.h3-sni-case")
TCP_ONLY_OVER_QUIC = ("accept.keep-alive", "reject.no-proof-of-possession", "trust.ca-names", "bypass.no-sni",
                      "bypass.h2-coalescing")


def assert_no_inapplicable_row_is_listed(report: dict) -> None:
    """A row that never runs over its transport is recorded not applicable, as a completed run records it."""
    listed = [n for n in report["not_run"] if (n["id"] in QUIC_ONLY and n["tls_version"] != "quic")
              or (n["id"] in TCP_ONLY_OVER_QUIC and n["tls_version"] == "quic")]
    assert not listed, listed
    rows = {(c["id"], c["tls_version"]): c for c in report["checks"]}
    for check_id in QUIC_ONLY:
        for version in ("1.2", "1.3"):
            assert rows[(check_id, version)]["observed"] == "not applicable", rows[(check_id, version)]
    for check_id in TCP_ONLY_OVER_QUIC:
        assert rows[(check_id, "quic")]["observed"] == "not applicable", rows[(check_id, "quic")]


def test_interrupted_xdist_run_lists_the_checks_not_run(tmp_path: Path):
    """Under ``-n 2`` the controller holds no items: it still lists every selected row it got no record of.

    The reference target (no --target), interrupted once the first results arrived: the worker still
    has the fuzz campaigns (a large --fuzz-examples) and most checks to go.
    """
    pytest.importorskip("xdist")
    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MTLSGATE_TEST_RUN"] = str(tmp_path)  # marks the controller and its workers (they inherit it)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "-n", "2",
                             "--fuzz-examples", "20000", "--reports-dir", str(reports)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            preexec_fn=default_signals)
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: os.read(proc.stdout.fileno(), 4096), b"")),
                              daemon=True)
    reader.start()
    try:
        # progress characters (pass dots, skip s) of the first results reached the controller: the worker is mid-run
        started = wait_for(lambda: re.search(rb"^[.sxFE]{3,}", b"".join(seen), re.M) is not None, 120)
        assert started, b"".join(seen).decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    reader.join(10)
    # the workers went with the controller (none is left fuzzing)
    assert wait_for(lambda: not processes_with_env("MTLSGATE_TEST_RUN", str(tmp_path)), 30)
    output = b"".join(seen).decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, output
    report = json.loads((reports / "mtlsgate.json").read_text())
    assert report["interrupted"] is True and report["status"] == "INCOMPLETE"
    # 38 ids x 1.2, 1.3, quic: each one recorded or listed as not run, at least the fuzz campaigns not run
    assert report["not_run"], output
    assert len(report["checks"]) + len(report["not_run"]) == 114
    assert {n["id"] for n in report["not_run"]} >= {"fuzz.oracle-agreement"}
    assert all(n["target"] == "reference" and n["reason"] == "not run: the run was interrupted"
               for n in report["not_run"])
    assert_no_inapplicable_row_is_listed(report)
    assert report["coverage"]["not_run"] == len(report["not_run"])
    assert report["coverage"]["total"] == 114 - report["coverage"]["not_applicable"]
    junit = (reports / "junit.xml").read_text()
    totals = re.search(r'<testsuite name="mtlsgate reference" tests="(\d+)" failures="(\d+)" skipped="(\d+)"', junit)
    assert totals is not None, junit[:500]
    assert int(totals[1]) == 114
    assert junit.count('classname="not-run"') == len(report["not_run"])
    assert junit.count('message="not run: the run was interrupted"') == len(report["not_run"])

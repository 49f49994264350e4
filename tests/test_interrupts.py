"""Ctrl-C and SIGTERM mid-run: every LB and echo backend stopped, temp dirs gone, a partial report marked interrupted.

A real ``pytest --target local:nginx`` run is signalled while nginx is serving; nginx runs
in its own session, so only mtlsgate's own cleanup can stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
    junit = (reports / "junit.xml").read_text()
    assert junit.count('classname="not-run"') == len(report["not_run"])

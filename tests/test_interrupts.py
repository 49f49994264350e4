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
        time.sleep(0.1)  # into the preflight or the first checks (the whole run takes about a second)
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
    assert report["not_run"]  # partial: the run did not finish (its rows known not applicable are recorded)
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


#: A plugin for the child run that holds its start-up (pytest_configure) until the test has sent its signal:
#: the signal lands in start-up every time, after mtlsgate's plugin was imported, without a sleep to tune.
HOLD_PLUGIN = '''
import os, time
from pathlib import Path


def hold(where):
    if os.environ["HOLD_AT"] != where:
        return
    Path(os.environ["HOLD_READY"]).write_text(str(os.getpid()))
    sent, deadline = Path(os.environ["HOLD_SENT"]), time.monotonic() + 60
    while not sent.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


def pytest_configure(config):
    hold("configure")


def pytest_collectstart(collector):
    hold("collecting")


def pytest_terminal_summary(terminalreporter):
    hold("summary")  # after mtlsgate wrote its reports, before the run cleans up and exits
'''


def run_held(tmp_path: Path, args: list[str], signum: int, cwd: Path, at: str = "configure"
             ) -> subprocess.CompletedProcess:
    """Start ``python ARGS -p hold_start_up``, signal it while its start-up is held ``at`` configure or
    as collection starts, return the finished run."""
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "hold_start_up.py").write_text(HOLD_PLUGIN)
    ready, sent, tmpdir = tmp_path / "ready", tmp_path / "sent", tmp_path / "tmp"
    tmpdir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(TMPDIR=str(tmpdir), HOLD_AT=at, HOLD_READY=str(ready), HOLD_SENT=str(sent),
               PYTHONPATH=os.pathsep.join(p for p in (str(tmp_path / "plugins"), env.get("PYTHONPATH")) if p))
    proc = subprocess.Popen([sys.executable, *args, "-p", "hold_start_up"], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=default_signals)
    try:
        assert wait_for(ready.exists, 60), "the run never reached pytest_configure"
        proc.send_signal(signum)
        sent.write_text("")  # after the kill: the held start-up goes on only once the signal was delivered
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert wait_for(lambda: not processes_mentioning(str(tmpdir)), 5), processes_mentioning(str(tmpdir))
    return subprocess.CompletedProcess(proc.args, proc.returncode, output)


PYTEST = ["-m", "pytest", "suites", "-p", "no:cacheprovider"]


@pytest.mark.parametrize(("command", "signum", "at"), [
    (PYTEST, signal.SIGINT, "configure"),
    (PYTEST, signal.SIGTERM, "configure"),
    (PYTEST, signal.SIGINT, "collecting"),
    (["-m", "mtlsgate", "test"], signal.SIGINT, "configure"),
], ids=["pytest-SIGINT-configure", "pytest-SIGTERM-configure", "pytest-SIGINT-collecting", "mtlsgate-test-SIGINT"])
def test_signal_during_start_up_lists_every_check_as_not_run(tmp_path: Path, command: list[str], signum: int,
                                                              at: str):
    """Ctrl-C while pytest is still starting (configure, collection): exit 2, an INCOMPLETE report, nothing probed."""
    reports = tmp_path / "reports"
    run = run_held(tmp_path, [*command, "-q", "--target", "local:nginx", "--reports-dir", str(reports)], signum,
                   cwd=ROOT, at=at)
    assert run.returncode == pytest.ExitCode.INTERRUPTED, run.stdout
    assert "Traceback" not in run.stdout, run.stdout
    report = json.loads((reports / "mtlsgate.json").read_text())
    assert report["interrupted"] is True and report["status"] == "INCOMPLETE"
    assert (reports / "summary.md").read_text().startswith("# mtlsgate: INCOMPLETE")
    # nothing ran: the rows recorded are the ones no run ever decides, every other selected row is listed
    assert all(c["observed"] == "not applicable" for c in report["checks"]), report["checks"]
    assert len(report["checks"]) + len(report["not_run"]) == 114
    assert report["coverage"]["not_run"] == report["coverage"]["total"] == len(report["not_run"])
    assert all(n["reason"] == "not run: the run was interrupted" for n in report["not_run"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_a_jobs_run_stops_every_shard_and_merges_what_they_did(tmp_path: Path, signum: int):
    """``--jobs 2``: the shards run in sessions of their own, so the signal reaches the parent alone.

    It passes one signal on to each shard, which writes its partial report; the merged report
    is INCOMPLETE, lists what was not run, and no shard process is left (the fuzz campaigns
    with a large --fuzz-examples would otherwise run for minutes).
    """
    from fleet import reference_fleet

    from mtlsgate.pki import KeyPool

    reports = tmp_path / "reports"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MTLSGATE_TEST_RUN"] = str(tmp_path)  # marks the parent and its shards (they inherit it)
    with reference_fleet(tmp_path, KeyPool(), [None, None]) as entries:
        inventory = tmp_path / "fleet.toml"
        inventory.write_text("\n\n".join(entries) + "\n")
        proc = subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "--jobs", "2",
                                 "--targets-file", str(inventory), "--fuzz-examples", "20000",
                                 "--reports-dir", str(reports)],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                preexec_fn=default_signals)
        logs = [reports / "shards" / str(k) / "pytest.log" for k in (1, 2)]
        try:
            started = wait_for(lambda: all(log.is_file() and re.search(rb"^[.sxFE]{3,}", log.read_bytes(), re.M)
                                           for log in logs), 120)
            assert started, [log.read_bytes()[-2000:] for log in logs if log.is_file()]
            proc.send_signal(signum)
            output, _ = proc.communicate(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert wait_for(lambda: not processes_with_env("MTLSGATE_TEST_RUN", str(tmp_path)), 30)
    text = output.decode(errors="replace")
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, text
    assert "Traceback" not in text
    report = json.loads((reports / "mtlsgate.json").read_text())
    assert report["interrupted"] is True and report["status"] == "INCOMPLETE", text
    assert [t["name"] for t in report["targets"]] == ["t0", "t1"]
    assert report["not_run"] and {n["id"] for n in report["not_run"]} >= {"fuzz.oracle-agreement"}
    assert len(report["checks"]) + len(report["not_run"]) == 2 * 114


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_during_start_up_of_another_projects_session_acts_as_the_default(tmp_path: Path, signum: int):
    """pytest loads the plugin in every session: one without mtlsgate checks gets Python's defaults back.

    Ctrl-C: pytest's own 'Interrupted' (exit 2); SIGTERM: the process dies of it. No mtlsgate report either way.
    """
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    run = run_held(tmp_path, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plain.py"], signum, cwd=project)
    if signum == signal.SIGINT:
        assert run.returncode == pytest.ExitCode.INTERRUPTED, run.stdout
        assert "KeyboardInterrupt" in run.stdout, run.stdout
    else:
        assert run.returncode == -signal.SIGTERM, run.stdout
    assert "1 passed" not in run.stdout, run.stdout
    assert not list(project.rglob("mtlsgate.json")), list(project.rglob("*"))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_after_the_reports_are_written_leaves_them_and_the_exit_code_agreeing(tmp_path: Path, signum: int):
    """The run had finished and said PASSED: a late Ctrl-C must not turn that into exit 2 (or death by SIGINT)."""
    reports = tmp_path / "reports"
    run = run_held(tmp_path, [*PYTEST, "-q", "-k", "directly_by_the_client_ca", "--reports-dir", str(reports)],
                   signum, cwd=ROOT, at="summary")
    assert run.returncode == 0, run.stdout
    assert json.loads((reports / "mtlsgate.json").read_text())["status"] == "PASSED"
    assert f"mtlsgate: {signal.Signals(signum).name} after the reports were written" in run.stdout
    assert "Traceback" not in run.stdout and "KeyboardInterrupt" not in run.stdout, run.stdout

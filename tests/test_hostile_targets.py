"""Hostile and broken targets: the run ends, bounded, with one line, the documented exit code, and no debris.

Each target here misbehaves in one way (see ``hostile.py``). The suite runs as a user runs
it (a ``pytest`` subprocess with its own TMPDIR); afterwards the run's temp dir must be
empty and no process may still mention it. The time bounds are hang detectors (a hung run
would take minutes), not speed targets: those live in ``benchmarks/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import hostile
import pytest
from loopback import http_server, tls_without_client_auth

from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.targets.base import LAB_SERVER_NAME
from mtlsgate.targets.reference import run_reference

#: A run against any of these targets should end in a few seconds; a hang would blow far past it.
BOUND_S = 30


def processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(f"{pid}: {cmdline[:200]}")
    return found


def assert_clean(run) -> None:
    assert not list(run.tmpdir.iterdir()), f"temp files left behind: {list(run.tmpdir.iterdir())}"
    assert not processes_mentioning(str(run.tmpdir)), "processes left behind"


def assert_stopped(run, needle: str) -> list[dict]:
    """Exit 69, exactly one ``mtlsgate:`` line naming the problem, a report saying so, no debris."""
    assert run.exit_code == UNTESTABLE_TARGET, run.output
    assert run.seconds < BOUND_S, f"the run took {run.seconds:.1f}s"
    lines = [line for line in run.output.splitlines() if line.startswith("mtlsgate:")]
    assert len(lines) == 1 and needle in lines[0], run.output
    assert "Traceback" not in run.output
    report = run.report
    assert needle in report["aborted"]
    assert "ABORTED" in (run.reports / "summary.md").read_text()
    assert_clean(run)
    return report["checks"]


@pytest.fixture
def lab_files(lab, tmp_path):
    """The lab's trust material as files, and the flags that give it to the suite as an external target."""
    pki = tmp_path / "lab"
    files = lab.write(pki)
    ca = lab.client_root.write(pki, "client-ca")
    identity = lab.identity.write(pki, "client")
    flags = ["--server-name", LAB_SERVER_NAME, "--server-ca", str(files.server_ca)]
    return {
        "identity": flags + ["--client-cert", str(identity.cert), "--client-key", str(identity.key)],
        "ca": flags + ["--client-ca-cert", str(ca.cert), "--client-ca-key", str(ca.key)],
    }


@pytest.fixture
def reference(lab, tmp_path):
    (tmp_path / "ref").mkdir(mode=0o700)
    with run_reference(lab, tmp_path / "ref") as ref:
        yield ref.port


def url(port: int) -> str:
    return f"https://127.0.0.1:{port}"


def test_port_that_accepts_and_never_answers(run_suite):
    with hostile.silent() as port:
        run = run_suite("--target", url(port), "--probe-timeout", "1")
    assert_stopped(run, "TCP connects but the TLS handshake did not finish within 1s")


def test_plain_http(run_suite):
    with http_server() as port:
        run = run_suite("--target", url(port), "--probe-timeout", "1")
    assert_stopped(run, "does not speak TLS")


def test_tls_server_that_closes_mid_handshake(run_suite):
    with hostile.closing_mid_handshake() as port:
        run = run_suite("--target", url(port), "--probe-timeout", "1")
    assert_stopped(run, "breaks off the TLS 1.2 handshake before requesting a client certificate")


def test_server_that_resets_every_connection_is_retried_then_diagnosed(run_suite):
    with hostile.resetting() as port:
        run = run_suite("--target", url(port), "--probe-timeout", "1")
    assert_stopped(run, "reset the connection before answering the TLS handshake (tried 3 times)")


def test_garbage_after_the_handshake(run_suite, lab, tmp_path, lab_files):
    with hostile.garbage_after_handshake(hostile.mtls_context(lab, tmp_path / "srv")) as port:
        run = run_suite("--target", url(port), "--probe-timeout", "1", *lab_files["identity"])
    assert_stopped(run, "does not speak HTTP over TLS")


def test_one_byte_per_second_response_is_cut_at_the_probe_deadline(run_suite, lab, tmp_path, lab_files):
    with hostile.dripping_response(hostile.mtls_context(lab, tmp_path / "srv")) as port:
        run = run_suite("--target", url(port), "--probe-timeout", "2", *lab_files["identity"])
    assert_stopped(run, "did not finish answering within 4s (probe deadline, after-handshake)")


def test_one_byte_per_second_handshake_is_cut_at_the_probe_deadline(run_suite, reference, lab_files):
    # One byte a second never trips a 2 s per-read timeout; CPython bounds the whole handshake by it.
    with hostile.dripping_proxy(reference) as port:
        run = run_suite("--target", url(port), "--probe-timeout", "2", *lab_files["identity"])
    assert_stopped(run, "TCP connects but the TLS handshake did not finish within 2s")


def test_target_that_dies_mid_run_aborts_with_the_checks_done_so_far(run_suite, reference, lab_files):
    with hostile.crashing_proxy(reference, connections=20) as proxy:
        run = run_suite("--target", url(proxy.port), "--probe-timeout", "2", *lab_files["ca"])
    checks = assert_stopped(run, "stopped answering mid-run (connection refused")
    not_applicable = [c for c in checks if c["observed"] == "not applicable"]
    done = [c for c in checks if c["observed"] not in ("not run", "not applicable")]
    not_run = [c for c in checks if c["observed"] == "not run"]
    # Done before the target died: passes. A rejection whose valid sibling was refused by the dying
    # target proves nothing: inconclusive, saying so (checks run ahead, so which ones varies); never a fail.
    assert any(c["verdict"] == "pass" for c in done)
    assert all(c["verdict"] == "pass" or (c["verdict"] == "inconclusive" and "could not be judged (connection refused"
                                          in c["reason"]) for c in done), \
        [(c["id"], c["tls_version"], c["verdict"], c["reason"]) for c in done if c["verdict"] != "pass"]
    # Not applicable (skips, not lost coverage): the QUIC cases of a target that never announced HTTP/3
    # (decided in preflight), and the QUIC-only checks over TCP.
    assert not_applicable and all(c["verdict"] == "skip" and (
        (c["tls_version"] == "quic" and c["reason"].startswith("the target does not offer HTTP/3"))
        or (c["tls_version"] != "quic" and c["id"] in ("bypass.h3-parity", "bypass.h3-sni-case")))
        for c in not_applicable), [(c["id"], c["tls_version"], c["reason"]) for c in not_applicable]
    assert not_run and all("run stopped" in c["reason"] for c in not_run), [c["reason"] for c in not_run]
    assert {c["verdict"] for c in not_run} == {"skip"}
    assert len(checks) == 114  # every check (38 ids incl. fuzz.oracle-agreement, x 1.2, 1.3, quic) is in the report
    # The check that hit the dead target carries the evidence of its retries.
    tripped = [c for c in not_run if c.get("outcome")]
    assert len(tripped) == 1 and tripped[0]["outcome"]["evidence"]["retries"] == 2


def test_max_duration_bounds_the_whole_run(run_suite, reference, lab_files):
    with hostile.slow_proxy(reference, delay=0.1) as port:
        run = run_suite("--target", url(port), "--max-duration", "4", "--probe-timeout", "0.4", *lab_files["ca"])
    checks = assert_stopped(run, "the run reached --max-duration 4s after")
    assert run.report["duration_s"] < 4
    assert any(c["verdict"] == "pass" for c in checks)
    assert any(c["observed"] == "not run" for c in checks)


def test_tls_server_that_never_asks_for_a_client_certificate(run_suite, tmp_path):
    ctx, ca_file = tls_without_client_auth(tmp_path)
    with http_server(ctx) as port:
        run = run_suite("--target", url(port), "--server-name", LAB_SERVER_NAME, "--server-ca", str(ca_file),
                        "--probe-timeout", "1")
    assert_stopped(run, "does not request client certificates")


def test_server_certificate_that_does_not_verify(run_suite, lab, tmp_path, lab_files):
    with hostile.garbage_after_handshake(hostile.mtls_context(lab, tmp_path / "srv")) as port:
        run = run_suite("--target", url(port), "--server-name", LAB_SERVER_NAME, "--probe-timeout", "1")
    assert_stopped(run, "the server certificate did not verify")


def test_handshake_inspection_survives_signals_while_it_waits(reference, lab):
    """With SO_RCVTIMEO set, a signal makes the blocking read fail with EINTR ("want read" to
    pyOpenSSL). Taken for the server's silence, it made a correct listener "advertise no CA
    names", a FAIL, whenever a profiler, a debugger or a handled signal touched the run."""
    import signal

    from mtlsgate.checks.canames import name_of
    from mtlsgate.wire.handshake import inspect_handshake
    from mtlsgate.wire.probe import Endpoint

    woken = []
    previous = signal.signal(signal.SIGALRM, lambda *_: woken.append(1))
    try:
        with hostile.slow_proxy(reference, delay=0.4) as port:
            signal.setitimer(signal.ITIMER_REAL, 0.05, 0.05)
            try:
                facts = inspect_handshake(Endpoint("127.0.0.1", port), LAB_SERVER_NAME, "1.3", timeout=2.0)
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert woken, "no signal arrived while the handshake waited"
    assert facts.cert_requested and facts.names_known
    assert name_of(lab.client_root.cert) in facts.ca_names


def test_unread_ca_names_are_no_verdict():
    """A handshake broken off before the CertificateRequest says nothing about the names."""
    from mtlsgate.wire.handshake import HandshakeFacts

    assert not HandshakeFacts(False, (), "the handshake did not finish within 2s").names_known
    assert HandshakeFacts(True, (), "tls alert handshake failure").names_known  # read, then refused
    assert HandshakeFacts(False, ()).names_known  # finished without asking: none advertised


def test_handshake_inspection_is_bounded_against_a_drip(reference):
    """pyOpenSSL's per-recv timeouts alone would let a one-byte-a-second server run for minutes."""
    import time

    from mtlsgate.wire.handshake import inspect_handshake
    from mtlsgate.wire.probe import Endpoint

    with hostile.dripping_proxy(reference, interval=0.5) as port:
        started = time.monotonic()
        facts = inspect_handshake(Endpoint("127.0.0.1", port), LAB_SERVER_NAME, "1.3", timeout=1.0)
        elapsed = time.monotonic() - started
    assert "did not finish within 2s" in facts.error and not facts.cert_requested
    assert elapsed < BOUND_S

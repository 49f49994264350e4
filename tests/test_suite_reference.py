"""The suite run as users run it, against the reference target: correct, broken on purpose, dead.

A mutant is the reference target with exactly one mistake; the suite must fail exactly the
checks that name that mistake — a mistake it cannot catch is a bug in the suite.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from loopback import http_server, tls_without_client_auth

from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.pki.certs import pem
from mtlsgate.targets.reference import run_reference

TRUST = {"reject.rogue-ca", "reject.rogue-same-name", "reject.self-signed", "reject.server-ca-issued"}
KEY_MARKERS = re.compile(r"PRIVATE KEY|BEGIN (RSA|EC|ENCRYPTED) ")


#: A pytest plugin for the run under test: each skipped report's node id and phase, one JSON line each.
SKIP_PHASES = """
import json, os

def pytest_runtest_logreport(report):
    if report.skipped:
        with open(os.environ["MTLSGATE_SKIP_PHASES"], "a") as fh:
            fh.write(json.dumps([report.nodeid, report.when]) + "\\n")
"""


def test_correct_reference_target_passes_with_every_report_written(run_suite, tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "skip_phases.py").write_text(SKIP_PHASES)
    phases = tmp_path / "skips.jsonl"
    path = os.pathsep.join(p for p in (str(tmp_path / "plugins"), os.environ.get("PYTHONPATH")) if p)
    run = run_suite("-p", "skip_phases", env={"PYTHONPATH": path, "MTLSGATE_SKIP_PHASES": str(phases)})
    assert run.exit_code == 0, run.output
    # The QUIC column of a TCP-only target: each row recorded at setup (no fixtures, no call phase);
    # only the target's first QUIC item could come before its preflight, and none does.
    skipped = [json.loads(line) for line in phases.read_text().splitlines()]
    quic = [(nodeid, when) for nodeid, when in skipped if nodeid.endswith("[quic]")]
    assert quic and all(when == "setup" for _, when in quic), quic[:5]
    report = run.report
    passed = [c for c in report["checks"] if c["verdict"] == "pass"]
    assert len(passed) >= 40
    assert report["schema_version"] and report["profile"] == "reference" and report["duration_s"] > 0
    assert {c["tls_version"] for c in report["checks"]} == {"1.2", "1.3", "quic"}
    for check in report["checks"]:
        assert {"id", "tls_version", "verdict", "expected", "outcome", "duration_ms"} <= set(check)
        if check["tls_version"] == "quic":  # TCP-only: the QUIC column is skipped with that reason, no UDP sent
            assert check["verdict"] == "skip" and "reference target is TCP-only" in check["reason"], check
            continue
        if check["id"].startswith("bypass.h3-"):  # QUIC checks: their verdict is in the quic column
            assert check["verdict"] == "skip" and "quic column" in check["reason"], check
            continue
        assert check["outcome"] and check["outcome"]["summary"]  # evidence for every verdict
    assert (run.reports / "junit.xml").read_text().count("<testcase") == len(report["checks"])
    assert "PASSED" in (run.reports / "summary.md").read_text()
    for path in run.reports.iterdir():
        assert not KEY_MARKERS.search(path.read_text()), f"key material in {path.name}"


@pytest.mark.parametrize("mutant,profile,expected_failures", [
    ("verify-optional", "default", {"mode.client-auth-required", "reject.no-cert"}),
    ("trust-any-ca", "default", TRUST | {"reject.missing-intermediate", "fuzz.oracle-agreement"}),
    ("no-crl", "default", {"reject.revoked"}),
    ("accept-ca-leaf", "strict", {"reject.ca-as-leaf"}),
])
def test_each_mistake_fails_exactly_the_checks_that_name_it(run_suite, mutant, profile, expected_failures):
    run = run_suite("--reference-mutant", mutant, "--profile", profile)
    assert run.exit_code == 1, run.output
    assert run.failed == expected_failures


def test_ignoring_verify_errors_fails_every_rejection_but_no_acceptance(run_suite):
    run = run_suite("--reference-mutant", "ignore-verify-errors")
    assert run.exit_code == 1
    assert TRUST | {"reject.expired", "reject.revoked", "reject.eku-server-only"} <= run.failed
    assert not {c for c in run.failed if c.startswith("accept.") or c == "reject.no-cert"}


def test_policy_deviation_is_a_warning_in_the_default_profile(run_suite):
    run = run_suite("--reference-mutant", "accept-ca-leaf")
    assert run.exit_code == 0
    assert run.verdicts("warn") == {"reject.ca-as-leaf"}


HANG_BOUND_S = 60


def _one_line_and_fast(run, started, needle):
    assert run.exit_code == UNTESTABLE_TARGET, run.output
    # A bound against hangs (60 probe timeouts would be minutes), not a speed target: under CI
    # load pytest's own start-up alone has taken over 10 s. Speed is benchmarks/' business.
    assert time.monotonic() - started < HANG_BOUND_S
    lines = [line for line in run.output.splitlines() if line.startswith("mtlsgate:")]
    assert len(lines) == 1 and needle in lines[0], run.output
    assert run.report["aborted"] and not run.report["checks"]
    assert "ABORTED" in (run.reports / "summary.md").read_text()


def test_nothing_listening_stops_the_run_in_seconds_with_one_line(run_suite):
    started = time.monotonic()
    run = run_suite("--target", "https://127.0.0.1:1")
    _one_line_and_fast(run, started, "connection refused")


def test_listener_that_never_asks_for_a_certificate_is_reported_as_such(run_suite, tmp_path):
    ctx, ca_file = tls_without_client_auth(tmp_path)
    with http_server(ctx) as port:
        started = time.monotonic()
        run = run_suite("--target", f"https://127.0.0.1:{port}", "--server-name", "mtlsgate.test",
                        "--server-ca", str(ca_file))
    _one_line_and_fast(run, started, "does not request client certificates")


def test_reference_without_certificate_request_is_untestable(run_suite):
    started = time.monotonic()
    run = run_suite("--reference-mutant", "verify-none")
    _one_line_and_fast(run, started, "does not request client certificates")


def test_plain_http_port_is_reported_as_not_tls(run_suite):
    with http_server() as port:
        started = time.monotonic()
        run = run_suite("--target", f"https://127.0.0.1:{port}")
    _one_line_and_fast(run, started, "does not speak TLS")


@pytest.fixture
def served_reference(lab, tmp_path):
    """The reference target as an *external* endpoint, with its trust material as files."""
    files = lab.write(tmp_path / "pki")
    ca = lab.client_root.write(tmp_path / "pki", "client-ca")
    identity = lab.identity.write(tmp_path / "pki", "client")
    revoked = lab.revoked.write(tmp_path / "pki", "revoked")
    with run_reference(lab, tmp_path) as ref:
        yield ref, files, ca, identity, revoked


def test_external_flags_with_the_ca_key_run_every_check(run_suite, served_reference, lab):
    ref, files, ca, identity, revoked = served_reference
    # The client CA file is the bundle the target trusts (root + intermediate): trust.ca-names
    # compares the advertised names with every certificate in it.
    bundle = files.client_ca.with_name("trusted-bundle.pem")
    bundle.write_bytes(pem(lab.client_root.cert, lab.client_intermediate.cert))
    run = run_suite("--target", f"https://127.0.0.1:{ref.port}", "--server-name", ref.server_name,
                    "--server-ca", str(files.server_ca), "--client-ca-cert", str(bundle),
                    "--client-ca-key", str(ca.key), "--revoked-cert", str(revoked.cert), "--revoked-key",
                    str(revoked.key), "--echo-backend", "--alt-server-name", "open.mtlsgate.test")
    assert run.exit_code == 0, run.output
    tcp = [c for c in run.report["checks"] if c["tls_version"] != "quic" and not c["id"].startswith("bypass.h3-")]
    skipped = {c["id"]: c["reason"] for c in tcp if c["verdict"] == "skip"}
    # The server CA key is not given; no HTTP/2.
    assert set(skipped) == {"reject.server-ca-issued", "bypass.h2-coalescing"}
    # An https:// target that announces no HTTP/3 gets no UDP packet: every QUIC case says why.
    quic = [c for c in run.report["checks"] if c["tls_version"] == "quic"]
    assert len(quic) == 38 and all(c["verdict"] == "skip" and c["observed"] == "not applicable"
                                   and c["reason"].startswith("the target does not offer HTTP/3") for c in quic)
    assert "server certificate" in skipped["reject.server-ca-issued"]
    assert "trust.ca-names" in run.verdicts("pass") and "headers.spoof-with-cert" in run.verdicts("pass")
    # Nothing declared: the identity headers the reference forwards are found by their values (TLS 1.2 and 1.3;
    # its QUIC row is one of the not-applicable skips above).
    forwarded = [c for c in tcp if c["id"] == "headers.forwarded-identity"]
    assert len(forwarded) == 2 and {c["verdict"] for c in forwarded} == {"pass"}
    assert all("X-SSL-Client-S-DN (subject-dn, found)" in c["reason"] for c in forwarded), forwarded
    # Nothing names the reference target's product: default, and the report says so.
    assert run.report["targets"][0]["product"]["source"] == "not recognised"


def test_require_all_fails_on_a_real_skip_not_on_http2_not_offered(run_suite, served_reference):
    """Without --server-ca-key, reject.server-ca-issued cannot run: lost coverage, --require-all fails the run.

    The target's missing HTTP/2 is no such loss: bypass.h2-coalescing is not applicable there.
    """
    ref, files, ca, identity, revoked = served_reference
    run = run_suite("--target", f"https://127.0.0.1:{ref.port}", "--server-name", ref.server_name,
                    "--server-ca", str(files.server_ca), "--client-ca-cert", str(files.client_ca),
                    "--client-ca-key", str(ca.key), "--tls-version", "1.3", "--require-all",
                    "-k", "server_certificate_ca or http2 or expired_leaf")
    assert run.exit_code == 1, run.output
    failed = [line for line in run.output.splitlines() if "--require-all is set" in line]
    assert failed and all("reject.server-ca-issued" in line for line in failed), failed
    rows = {c["id"]: c for c in run.report["checks"]}
    assert rows["reject.server-ca-issued"]["observed"] == "not run"
    assert rows["bypass.h2-coalescing"]["observed"] == "not applicable"
    assert run.report["status"] == "FAILED" and run.report["coverage"]["total"] == 2


def test_external_flags_with_one_identity_skip_what_needs_the_ca_key(run_suite, served_reference):
    ref, files, ca, identity, revoked = served_reference
    run = run_suite("--target", f"https://127.0.0.1:{ref.port}", "--server-name", ref.server_name,
                    "--server-ca", str(files.server_ca), "--client-cert", str(identity.cert),
                    "--client-key", str(identity.key))
    assert run.exit_code == 0, run.output
    assert {"accept.valid-direct", "reject.no-cert", "reject.rogue-ca", "reject.self-signed",
            "mode.client-auth-required"} <= run.verdicts("pass")
    skips = [c for c in run.report["checks"] if c["verdict"] == "skip" and c["tls_version"] != "quic"
             and not c["id"].startswith("bypass.h3-")]  # the QUIC column: see the test above
    assert skips and all(c["reason"].startswith("needs ") for c in skips if c["id"] != "bypass.h2-coalescing")


@pytest.mark.parametrize("args,message", [
    (["--target", "ftp://example.test"], "expected reference, local:<lb> or an https:// URL"),
    (["--target", "https://127.0.0.1:99999"], "--target"),
    (["--profile", "no-such"], "unknown profile"),
    (["--target", "https://127.0.0.1:1", "--client-cert", "/nonexistent.pem", "--client-key", "/nonexistent.key"],
     "no such file"),
    (["--target", "https://127.0.0.1:1", "--client-ca-cert", "/etc/hostname", "--client-ca-key", "/etc/hostname"],
     "not a PEM or DER certificate"),
])
def test_bad_input_is_one_line_and_usage_error(run_suite, args, message):
    run = run_suite(*args)
    assert run.exit_code == 4
    assert message in run.output and "Traceback" not in run.output


def test_key_that_does_not_match_its_certificate(run_suite, lab, tmp_path):
    identity = lab.identity.write(tmp_path, "client")
    other = lab.revoked.write(tmp_path, "other")
    run = run_suite("--target", "https://127.0.0.1:1", "--client-cert", str(identity.cert), "--client-key", str(other.key))
    assert run.exit_code == 4 and "does not match" in run.output

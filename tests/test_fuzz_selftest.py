"""fuzz.oracle-agreement run as users run it: a one-field mutant is caught and shrunk; correct targets pass."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

from conftest import ROOT
from mtlsgate.errors import PYTEST_USAGE_ERROR
from mtlsgate.targets.local import LBS, binary_for

VALIDITY = {"not_before", "not_after"}


def _fuzz_records(run):
    records = [c for c in run.report["checks"] if c["id"] == "fuzz.oracle-agreement"]
    assert {r["tls_version"] for r in records} == {"1.2", "1.3", "quic"}
    # A target without HTTP/3 (the TCP-only reference, nginx ...) skips its QUIC campaign with the reason;
    # Caddy and Traefik run it like the TCP ones.
    skipped = [r for r in records if r["tls_version"] == "quic" and r["verdict"] == "skip"]
    assert all(r["reason"].startswith("the target does not offer HTTP/3") for r in skipped), skipped
    return [r for r in records if r not in skipped]


def _replay(directory, *flags):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    proc = subprocess.run([sys.executable, "-m", "mtlsgate", "replay", str(directory), *flags], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env=env)
    return proc.returncode, proc.stdout + proc.stderr


def test_correct_reference_agrees_with_the_oracle_and_counts_examples(run_suite):
    run = run_suite("-k", "fuzz", "--fuzz-profile", "ci")
    assert run.exit_code == 0, run.output
    for record in _fuzz_records(run):
        assert record["verdict"] == "pass", record["reason"]
        assert record["fuzz"]["examples"] == 25 and record["fuzz"]["lb_looser"] == 0
        assert record["fuzz"]["agree_accepted"] and record["fuzz"]["agree_rejected"]
    assert "fuzz: 50 generated chains probed" in run.output
    assert "25 examples" in (run.reports / "summary.md").read_text()
    assert not (run.reports / "repro").exists()


def test_a_reference_that_ignores_eku_fails_with_a_reproducer_differing_only_in_eku(run_suite):
    # 300 derandomized examples (the ci profile's generator): enough to draw a leaf whose only fault is its EKU.
    run = run_suite("-k", "fuzz", "--reference-mutant", "ignore-eku", "--fuzz-examples", "300", "--tls-version", "1.3")
    assert run.exit_code == 1, run.output
    summary = (run.reports / "summary.md").read_text()
    for record in [c for c in run.report["checks"] if c["id"] == "fuzz.oracle-agreement"]:
        assert record["verdict"] == "fail" and record["fuzz"]["examples"] == 300
        looser = [d for d in record["fuzz"]["disagreements"] if d["kind"] == "lb-looser"]
        assert looser, record["fuzz"]
        # Shrunk to a valid chain but for one EKU (the leaf's, or an intermediate's: the mutant ignores both).
        fields = [f for f in looser[0]["differs_from_valid_in"] if not f.startswith("depth=")]
        assert len(fields) == 1 and fields[0].endswith(".eku"), looser[0]
        repro = run.reports / looser[0]["reproducer"]
        assert f"({looser[0]['reproducer']})" in summary
        assert {p.name for p in repro.iterdir()} == {"chain.pem", "key.pem", "ca.pem", "spec.json", "outcome.json",
                                                    "README.md"}
        assert stat.S_IMODE((repro / "key.pem").stat().st_mode) == 0o600
        assert stat.S_IMODE(repro.stat().st_mode) == 0o700
        readme = (repro / "README.md").read_text()
        assert "mtlsgate replay" in readme and "--reference-mutant ignore-eku" in readme
    # The replay command: still disagrees with the mutant (1), agrees with the correct reference (0).
    code, out = _replay(repro, "--target", "reference", "--reference-mutant", "ignore-eku")
    assert code == 1 and "lb-looser" in out, out
    code, out = _replay(repro, "--target", "reference")
    assert code == 0 and "agree" in out, out


def test_a_reference_that_trusts_any_ca_fails_in_the_default_fuzz_run(run_suite):
    """The ci profile as a plain run has it (25 derandomized chains): some end at another root, all else valid."""
    run = run_suite("-k", "fuzz", "--reference-mutant", "trust-any-ca", "--tls-version", "1.3")
    assert run.exit_code == 1, run.output
    [record] = [c for c in run.report["checks"] if c["id"] == "fuzz.oracle-agreement"]
    assert record["verdict"] == "fail" and record["fuzz"]["examples"] == 25
    looser = [d for d in record["fuzz"]["disagreements"] if d["kind"] == "lb-looser"]
    assert looser and "untrusted-root" in looser[0]["rules"], record["fuzz"]
    fields = [f for f in looser[0]["differs_from_valid_in"] if not f.startswith("depth=")]
    assert len(fields) == 1 and fields[0].startswith("root="), looser[0]
    assert (run.reports / looser[0]["reproducer"] / "chain.pem").is_file()


def test_a_reference_that_accepts_expired_is_shrunk_to_a_validity_field(run_suite):
    run = run_suite("-k", "fuzz", "--reference-mutant", "accept-expired", "--fuzz-examples", "300",
                    "--tls-version", "1.3")
    assert run.exit_code == 1, run.output
    [record] = [c for c in run.report["checks"] if c["id"] == "fuzz.oracle-agreement"]
    looser = [d for d in record["fuzz"]["disagreements"] if d["kind"] == "lb-looser"]
    assert looser and "expired" in looser[0]["rules"]
    fields = {f.split(".", 1)[1] for f in looser[0]["differs_from_valid_in"] if not f.startswith("depth=")}
    assert fields and fields <= VALIDITY, looser[0]


@pytest.mark.parametrize("lb", LBS)
def test_every_correct_local_lb_agrees_with_the_oracle(run_suite, lb):
    if binary_for(lb) is None:
        pytest.skip(f"{lb} is not installed")
    run = run_suite("-k", "fuzz", "--fuzz-profile", "ci", "--target", f"local:{lb}")
    assert run.exit_code == 0, run.output
    for record in _fuzz_records(run):
        assert record["verdict"] in ("pass", "warn") and record["fuzz"]["lb_looser"] == 0, record["reason"]


@pytest.mark.parametrize("args", [("--fuzz-examples", "0"), ("--fuzz-examples", "many"),
                                  ("--fuzz-profile", "nightly")])
def test_bad_fuzz_options_are_usage_errors(run_suite, args):
    run = run_suite("-k", "fuzz", *args)
    assert run.exit_code == PYTEST_USAGE_ERROR, run.output
    assert "Traceback" not in run.output


def test_replay_of_something_that_is_not_a_reproducer_is_a_usage_error(tmp_path):
    code, out = _replay(tmp_path)
    assert code == 2 and "not a reproducer directory" in out and "Traceback" not in out

"""Bad input: one line naming the file (or option) and the problem, the usage exit code, no traceback.

Under pytest that is pytest's own 4 (``ERROR: ...``); ``mtlsgate`` subcommands exit 2
(``error: ...``). ``--debug`` (pytest's own flag; ``mtlsgate --debug``) shows the traceback.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from mtlsgate.errors import CLI_USAGE_ERROR, PYTEST_USAGE_ERROR

DEAD = "https://127.0.0.1:1"  # never contacted: bad input stops the run before any probe


def error_lines(output: str) -> list[str]:
    """Our one line; for a value argparse itself rejects, pytest's own "usage" + "error:" pair counts as one."""
    return [line for line in output.splitlines()
            if line.startswith(("ERROR:", "error:")) and not line.startswith("ERROR: usage:") or ": error: " in line]


@pytest.fixture
def files(tmp_path, lab):
    identity = lab.identity.write(tmp_path, "client")
    other = lab.revoked.write(tmp_path, "other")
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    (tmp_path / "empty.pem").write_text("")
    (tmp_path / "unknown-key.toml").write_text('extends = "default"\ncolour = "red"\n')
    (tmp_path / "bad-type.toml").write_text('max_intermediates = "three"\n')
    (tmp_path / "not-toml.toml").write_text("this is = = not toml\n")
    (tmp_path / "a-file").write_text("")
    from cryptography.hazmat.primitives import serialization
    encrypted = lab.identity.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.BestAvailableEncryption(b"s3cret-pass"))
    (tmp_path / "encrypted.key").write_bytes(encrypted)
    return {"cert": str(identity.cert), "key": str(identity.key), "other_key": str(other.key), "dir": tmp_path}


CASES = {
    # name: (args (with {placeholders}), what the one line must say)
    "missing cert": (["--client-cert", "{dir}/nope.pem", "--client-key", "{key}"], "{dir}/nope.pem: no such file"),
    "missing key": (["--client-cert", "{cert}", "--client-key", "{dir}/nope.key"], "{dir}/nope.key: no such file"),
    "malformed PEM": (["--client-cert", "{dir}/garbage.pem", "--client-key", "{key}"],
                      "{dir}/garbage.pem: not a PEM or DER certificate"),
    "empty cert file": (["--client-cert", "{dir}/empty.pem", "--client-key", "{key}"], "{dir}/empty.pem: not a PEM"),
    "cert as key": (["--client-cert", "{cert}", "--client-key", "{cert}"], "{cert}: not a PEM or DER private key"),
    "encrypted key": (["--client-cert", "{cert}", "--client-key", "{dir}/encrypted.key"],
                      "{dir}/encrypted.key: the key is encrypted"),
    "key of another cert": (["--client-cert", "{cert}", "--client-key", "{other_key}"],
                            "key {other_key} does not match the certificate {cert}"),
    "half a pair": (["--client-cert", "{cert}"], "--client-cert and --client-key go together"),
    "server CA missing": (["--server-ca", "{dir}/nope-ca.pem"], "--server-ca {dir}/nope-ca.pem: no such file"),
    "server CA not PEM": (["--server-ca", "{dir}/not-toml.toml"], "--server-ca {dir}/not-toml.toml: not a PEM or DER"),
    "server CA key alone": (["--server-ca-key", "{key}"], "--server-ca-key needs --server-ca"),
    "server CA key of another cert": (["--server-ca", "{cert}", "--server-ca-key", "{other_key}"],
                                      "server CA key {other_key} matches no certificate in {cert}"),
    "profile unknown key": (["--profile", "{dir}/unknown-key.toml"], "{dir}/unknown-key.toml: unknown key(s) colour"),
    "profile bad type": (["--profile", "{dir}/bad-type.toml"], "{dir}/bad-type.toml: max_intermediates must be"),
    "profile not TOML": (["--profile", "{dir}/not-toml.toml"], "profile {dir}/not-toml.toml:"),
    "profile missing": (["--profile", "{dir}/nope.toml"], "profile file {dir}/nope.toml: not found"),
    "URL without host": (["--target", "https://"], "--target https://: expected"),
    "URL port not a number": (["--target", "https://127.0.0.1:port"], "--target https://127.0.0.1:port:"),
    "URL port zero": (["--target", "https://127.0.0.1:0"], "--target https://127.0.0.1:0: port out of range"),
    "URL wrong scheme": (["--target", "http://127.0.0.1"], "expected reference, local:<lb> or an https:// URL"),
    "unknown LB": (["--target", "local:envoy"], "--target local:envoy: unknown load balancer"),  # lighttpd is known now
    "reports dir under a file": (["--reports-dir", "{dir}/a-file/reports"], "--reports-dir {dir}/a-file/reports: "
                                                                             "{dir}/a-file is not a directory"),
    "probe timeout text": (["--probe-timeout", "soon"], "--probe-timeout: invalid float value: 'soon'"),
    "probe timeout zero": (["--probe-timeout", "0"], "--probe-timeout 0.0: expected seconds"),
    "probe timeout negative": (["--probe-timeout=-3"], "--probe-timeout -3.0: expected seconds"),
    "probe timeout nan": (["--probe-timeout", "nan"], "--probe-timeout nan: expected seconds"),
    "probe timeout inf": (["--probe-timeout", "inf"], "--probe-timeout inf: expected seconds"),
    "max duration nan": (["--max-duration", "nan"], "--max-duration nan: expected seconds"),
    "retries out of range": (["--probe-retries", "50"], "--probe-retries 50: expected 0 to 5"),
    "identity header format": (["--identity-header", "X-Client-DN=colour"],
                               "--identity-header X-Client-DN=colour: format must be one of"),
    "identity header name": (["--identity-header", "X Client=cert"], "--identity-header X Client=cert: 'X Client' is not"),
    "jobs zero": (["--jobs", "0"], "--jobs 0: expected a number of processes (1 or more) or auto"),
    "jobs text": (["--jobs", "many"], "--jobs many: expected a number of processes"),
    "jobs and shard": (["--jobs", "2", "--shard", "1/2"], "--jobs and --shard: --jobs runs the shards itself"),
    "jobs and xdist": (["--jobs", "2", "-n", "2"], "--jobs and -n: choose one"),
    "jobs and junitxml": (["--jobs", "2", "--junitxml", "{dir}/j.xml"], "--jobs and --junitxml: the merged JUnit"),
    "report format unknown": (["--report-formats", "json,pdf"], "--report-formats json,pdf: expected a comma-separated "
                                                                "list of json, junit, summary, html"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_under_pytest(run_suite, files, case):
    args, message = CASES[case]
    args = [a.format(**files) for a in args]
    if "--target" not in args:
        args = ["--target", DEAD, *args]
    run = run_suite(*args)
    assert run.exit_code == PYTEST_USAGE_ERROR, run.output
    lines = error_lines(run.output)
    assert len(lines) == 1 and message.format(**files) in lines[0], run.output
    assert "Traceback" not in run.output
    assert not (run.reports / "mtlsgate.json").exists()  # nothing ran, nothing is reported as run
    assert not list(run.tmpdir.iterdir())


def test_debug_shows_the_traceback(run_suite, files):
    run = run_suite("--target", DEAD, "--client-cert", files["cert"], "--client-key", files["other_key"],
                    f"--debug={files['dir']}/pytestdebug.log")  # pytest's --debug also writes this log
    assert run.exit_code == PYTEST_USAGE_ERROR
    assert "Traceback" in run.output and "does not match" in run.output


def mtlsgate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mtlsgate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args,message", [
    (["serve", "--dir", "x", "--mutant", "nope"], "--mutant nope: expected one of"),
    (["echo-backend", "--listen", "nowhere"], "--listen nowhere: expected HOST:PORT"),
    (["echo-backend", "--listen", "127.0.0.1:70000"], "--listen 127.0.0.1:70000: expected HOST:PORT"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
    ([], "give a command"),
])
def test_bad_input_to_mtlsgate_subcommands(args, message):
    proc = mtlsgate(*args)
    assert proc.returncode == CLI_USAGE_ERROR, proc.stderr
    lines = error_lines(proc.stderr)
    assert len(lines) == 1 and message in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_mtlsgate_debug_shows_the_traceback():
    proc = mtlsgate("--debug", "echo-backend", "--listen", "nowhere")
    assert proc.returncode != 0 and "Traceback" in proc.stderr and "expected HOST:PORT" in proc.stderr

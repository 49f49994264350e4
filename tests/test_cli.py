"""The ``mtlsgate`` command: exit 0 fine, 1 findings, 2 usage error; never a traceback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from mtlsgate.cli import main
from mtlsgate.targets.reference import run_reference


@pytest.fixture
def served(lab, tmp_path):
    files = lab.write(tmp_path / "pki")
    identity = lab.identity.write(tmp_path / "pki", "client")
    with run_reference(lab, tmp_path) as ref:
        yield ref, files, identity


def test_probe_reports_what_happened(served, capsys):
    ref, files, identity = served
    url = f"https://127.0.0.1:{ref.port}/"
    common = [url, "--server-name", ref.server_name, "--server-ca", str(files.server_ca)]
    assert main(["probe", *common, "--cert", str(identity.cert), "--key", str(identity.key)]) == 0
    assert "accepted: HTTP 200, reached backend" in capsys.readouterr().out
    assert main(["probe", *common, "--tls-version", "1.2"]) == 0
    assert "rejected by TLS alert handshake_failure" in capsys.readouterr().out


def test_probe_unreachable_is_a_finding(capsys):
    assert main(["probe", "https://127.0.0.1:1/", "--timeout", "2"]) == 1
    assert "connection refused" in capsys.readouterr().out


@pytest.mark.parametrize("argv,message", [
    ([], "give a command"),
    (["frobnicate"], "invalid choice"),
    (["probe", "http://example.test"], "expected an https:// URL"),
    (["probe", "https://127.0.0.1:1", "--cert", "/nonexistent"], "--cert and --key go together"),
    (["echo-backend", "--listen", "nope"], "expected HOST:PORT"),
])
def test_usage_errors_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_echo_backend_answers_with_what_it_received():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "mtlsgate", "echo-backend", "--listen", f"127.0.0.1:{port}",
                             "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/x?y=1", headers={"X-Probe": "1"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    body = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert body["mtlsgate_echo"] is True and body["method"] == "GET" and body["path"] == "/x?y=1"
        assert ["X-Probe", "1"] in body["headers"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

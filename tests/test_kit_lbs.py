"""Kits on the real load balancers: the suite provisions each local LB with a kit (``--kit`` +
``local:<lb>``), and each LB is started from ``mtlsgate kit --emit-config`` and tested as an
external target, the way an operator would.

Modern kit: the suite passes on every LB. Seed kit: OpenSSL-based LBs (nginx, HAProxy, Apache)
refuse to load its SHA-1 server certificate ("ca md too weak" at Debian's security level 2);
Go-based ones (Caddy, Traefik) start but reject its SHA-1 client certificate, which the
preflight reports as "rejects a valid client" (exit 69). stunnel, hitch and Squid refuse to start
with it; lighttpd and Traffic Server load it lazily and break off every handshake (exit 69 too).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_lb_mutants import NO_IDENTITY_HEADERS, allowed_skip

from mtlsgate.errors import UNTESTABLE_TARGET
from mtlsgate.judge.profiles import load as load_profile
from mtlsgate.targets import local
from mtlsgate.targets.local import LBS, binary_for
from mtlsgate.wire.echo import run_echo

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "kit-lb-p12"
OPENSSL_LBS = {"nginx", "haproxy", "apache"}
CRL_CAPABLE = {"nginx", "haproxy", "apache", "stunnel", "lighttpd", "squid"}
#: With the seed kit's SHA-1 server certificate these OpenSSL products refuse to start, or
#: (loading certificates lazily) start and break off every handshake.
SEED_NO_START = {"stunnel", "hitch", "squid"}
SEED_NO_HANDSHAKE = {"lighttpd", "trafficserver"}
#: Products whose emitted configuration answers nothing itself that names it: HAProxy, stunnel
#: and hitch send no Server header, and lighttpd proxies every Host, keeping the backend's
#: Server header. ``--profile auto`` falls back to ``default`` for them and says so.
NAMES_ITSELF_NOWHERE = {"haproxy", "stunnel", "hitch", "lighttpd"}


def _skip_if_missing(lb: str) -> None:
    if binary_for(lb) is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{lb} is required under CI=true")
        pytest.skip(f"{lb} not installed")


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("lbkits")
    out = {}
    for profile in ("seed", "modern"):
        proc = subprocess.run([sys.executable, "-m", "mtlsgate", "kit", str(base / profile), "--profile", profile,
                               "--p12-password", PASSWORD], cwd=ROOT, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and profile == "seed" and "openssl" in proc.stderr:
            continue
        assert proc.returncode == 0, proc.stderr
        out[profile] = base / profile
    return out


@pytest.fixture(scope="module")
def spaced_kit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A modern kit in a directory whose path holds a space (as "My Documents/kits" would)."""
    kit = tmp_path_factory.mktemp("spaced") / "kit with space" / "modern"
    kit.parent.mkdir()
    kit.parent.chmod(0o711)
    proc = subprocess.run([sys.executable, "-m", "mtlsgate", "kit", str(kit), "--profile", "modern",
                           "--p12-password", PASSWORD], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return kit


@pytest.mark.parametrize("lb", LBS)
def test_modern_kit_passes_on_each_local_lb(lb: str, kits: dict[str, Path], run_suite) -> None:  # type: ignore[no-untyped-def]
    _skip_if_missing(lb)
    run = run_suite(f"--kit={kits['modern']}", "--target", f"local:{lb}")
    assert run.exit_code == 0, run.output[-3000:]
    report = run.report
    assert report["targets"][0]["description"].endswith("kit " + str(kits["modern"].resolve()) + " (modern)")
    assert run.verdicts("pass") >= {"accept.valid-direct", "reject.no-cert", "reject.rogue-ca",
                                     "reject.rogue-same-name", "reject.server-ca-issued", "reject.expired"}
    if lb in CRL_CAPABLE:
        assert "reject.revoked" in run.verdicts("pass")  # the kit's CRL revokes the kit's revoked identity
    tcp = [c for c in report["checks"] if c["tls_version"] != "quic" and not c["id"].startswith("bypass.h3-")]
    skipped = {c["id"]: c["reason"] for c in tcp if c["verdict"] == "skip" and not allowed_skip(lb, c)}
    assert set(skipped) <= {"accept.valid-intermediate", "reject.expired-intermediate", "reject.pathlen-violation",
                            "reject.too-deep", "reject.md5-signature"}
    assert all("pathLen 0" in reason for reason in skipped.values())
    # QUIC: run on the LBs that announce HTTP/3 (Caddy, Traefik), else skipped with the reason.
    quic = [c for c in report["checks"] if c["tls_version"] == "quic" and c["verdict"] == "skip"]
    assert all("pathLen 0" in c["reason"] or c["reason"].startswith(("not run over QUIC", "the target does not offer"))
               for c in quic), [c["reason"] for c in quic]


@pytest.mark.parametrize("lb", LBS)
def test_seed_kit_on_each_local_lb_is_reported_untestable(lb: str, kits: dict[str, Path], run_suite) -> None:  # type: ignore[no-untyped-def]
    _skip_if_missing(lb)
    if "seed" not in kits:
        pytest.skip("the seed profile needs the openssl command line")
    run = run_suite(f"--kit={kits['seed']}", "--target", f"local:{lb}")
    assert run.exit_code == UNTESTABLE_TARGET, run.output[-3000:]
    if lb in OPENSSL_LBS:
        assert "did not start" in run.output
        expected = {"nginx": "ca md too weak", "haproxy": "unable to load SSL certificate", "apache": "apache"}[lb]
        assert expected in run.output
    elif lb in SEED_NO_START | SEED_NO_HANDSHAKE:
        assert ("did not start" if lb in SEED_NO_START else "breaks off the TLS 1.2 handshake") in run.output
    else:
        assert "rejects a valid client" in run.output and "sha1-signed" in run.output
    assert run.report["checks"] == []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("lb", LBS)
def test_emitted_config_runs_and_passes_as_an_external_target(lb: str, spaced_kit: Path, run_suite) -> None:  # type: ignore[no-untyped-def]
    """Emitted into a kit directory with a space in its path: every path in the configuration and in
    the start command is quoted the way the product (and the shell) reads it."""
    _skip_if_missing(lb)
    kit = spaced_kit
    assert " " in str(kit)
    port = _free_port()
    with run_echo() as echo:
        proc = subprocess.run([sys.executable, "-m", "mtlsgate", "kit", "--emit-config", lb, str(kit), "--listen",
                               f"127.0.0.1:{port}", "--backend", f"{echo.host}:{echo.port}"],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        start = next(line for line in proc.stdout.splitlines() if line.startswith("start it with: "))
        command = shlex.split(start.removeprefix("start it with: "))
        workdir = kit / "config" / lb
        workdir.chmod(0o755)  # Apache's children run unprivileged when started as root
        kit.chmod(0o711)
        log = (workdir / "run.log").open("wb")
        lb_proc = subprocess.Popen(command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=local._environment(lb, workdir), start_new_session=True)
        try:
            server_der = local._server_der(kit / "server" / "server.crt")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and lb_proc.poll() is None:
                if local._probe_ready("127.0.0.1", port, "www.test.com", server_der):
                    break
                time.sleep(0.1)
            assert lb_proc.poll() is None, (workdir / "run.log").read_text()[-2000:]
            # As a user runs it: the product recognised from its answers (--profile auto, the
            # default for URLs), the header checks reading the echo backend behind it.
            suite = (f"--kit={kit}", "--target", f"https://127.0.0.1:{port}", "--echo-backend")
            run = run_suite(*suite, "--profile", "auto")
            assert run.exit_code in (0, 1), run.output[-3000:]
            product = run.report["targets"][0]["product"]
            if lb in NAMES_ITSELF_NOWHERE:  # default, and it says so
                assert (product["product"], product["profile"], product["source"]) == (None, "default",
                                                                                       "not recognised"), product
                assert "using the default profile" in product["why"]
                # Default holds the LB to what its product cannot do (hitch: no CRL, so the revoked
                # client is let in): exactly those checks fail; named, the product passes.
                cannot = set(load_profile(lb).unsupported)
                assert run.failed == (cannot if run.exit_code else set()), run.output[-3000:]
                assert "profile `default`" in (run.reports / "summary.md").read_text()
                if run.exit_code:
                    run = run_suite(*suite, "--profile", lb)
            else:
                assert (product["product"], product["profile"], product["source"]) == (lb, lb, "detected"), product
                assert product["why"] and f"profile `{lb}`" in (run.reports / "summary.md").read_text()
            assert run.exit_code == 0, run.output[-3000:]
            assert "accept.valid-direct" in run.verdicts("pass") and "reject.no-cert" in run.verdicts("pass")
            if lb in CRL_CAPABLE:
                assert "reject.revoked" in run.verdicts("pass")
            forwarded = [c for c in run.report["checks"] if c["id"] == "headers.forwarded-identity"
                         and c["tls_version"] != "quic"]
            if lb in NO_IDENTITY_HEADERS:  # a byte tunnel, Traffic Server 9.2: nothing to find, and it says so
                assert all(c["verdict"] == "skip" and "forwards no identity" in c["reason"] for c in forwarded)
            else:
                assert "headers.forwarded-identity" in run.verdicts("pass")  # found, not declared
        finally:
            local._stop(lb_proc)
            log.close()
            kit.chmod(0o700)


def test_emit_config_refuses_a_path_no_config_can_spell(spaced_kit: Path, tmp_path: Path) -> None:
    """A '$' (nginx expands variables in ssl_certificate) or a quote: one line and exit 2, nothing written broken."""
    import shutil

    kit = tmp_path / "a$dir" / "kit"
    shutil.copytree(spaced_kit, kit, ignore=shutil.ignore_patterns("config"))
    proc = subprocess.run([sys.executable, "-m", "mtlsgate", "kit", "--emit-config", "nginx", str(kit), "--listen",
                           "127.0.0.1:18443", "--backend", "127.0.0.1:18080"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "'$'" in proc.stderr and "Traceback" not in proc.stderr
    assert not (kit / "config").exists()

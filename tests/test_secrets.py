"""Secrets: key files 0600 in 0700 directories; no key material or password in reports, logs or errors."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import pytest
from gate_runs import run_suite_in_process

from mtlsgate.pki.keys import KeyPool
from mtlsgate.report import RunInfo, write_reports
from mtlsgate.targets.local import binary_for

PEM_MARKER = re.compile(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----|PRIVATE KEY")
PASSWORD = "s3cret-pass-7d1f"


def key_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink() and PEM_MARKER.search(p.read_bytes())]


def secrets_of(keys: list[Path]) -> set[bytes]:
    """The private numbers of every key, as hex and as base64 under each of the three byte alignments.

    Only the private numbers: a PKCS#8 EC key also carries its public point, which every
    report may rightly show (it is in the certificate).
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    pieces: set[bytes] = set()
    for path in keys:
        for block in re.findall(rb"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----",
                                path.read_bytes(), re.S):
            key = serialization.load_pem_private_key(block, password=None)
            if isinstance(key, rsa.RSAPrivateKey):
                n = key.private_numbers()
                numbers = [n.d, n.p, n.q]
            elif isinstance(key, ec.EllipticCurvePrivateKey):
                numbers = [key.private_numbers().private_value]
            else:
                assert isinstance(key, ed25519.Ed25519PrivateKey)
                numbers = [int.from_bytes(key.private_bytes_raw(), "big")]
            for number in numbers:
                raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
                pieces.add(raw.hex().encode())
                for offset in range(3):
                    pieces.add(base64.b64encode(raw[offset:])[:-4])
    return {p for p in pieces if len(p) >= 24}


def assert_private(keys: list[Path]) -> None:
    assert keys, "no key files found: the check would prove nothing"
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path} is {oct(path.stat().st_mode)}"
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, f"{path.parent} is {oct(path.parent.stat().st_mode)}"


def assert_no_secret(texts: dict[str, bytes], secrets: set[bytes]) -> None:
    for name, data in texts.items():
        data = data.replace(b"\\n", b"").replace(b"\n", b"").replace(b"\r", b"")  # PEM wrapped, or JSON-escaped
        assert not PEM_MARKER.search(data), f"a PEM private key marker in {name}"
        assert PASSWORD.encode() not in data, f"the password in {name}"
        leaked = [s for s in secrets if s in data]
        assert not leaked, f"key material in {name}"


TARGETS = ["reference"] + [f"local:{lb}" for lb in ("nginx", "haproxy") if binary_for(lb)]


@pytest.mark.parametrize("spec", TARGETS)
def test_a_run_keeps_its_keys_private_and_out_of_reports_and_logs(spec, tmp_path, capfd):
    cache = tmp_path / "key-cache"
    pool = KeyPool(cache)
    workdir = tmp_path / "work"
    workdir.mkdir(mode=0o700)
    seen: dict[str, object] = {}

    def inside(gate) -> None:
        keys = key_files(workdir) + key_files(cache)
        assert_private(keys)
        seen["secrets"] = secrets_of(keys)
        target = gate.states[spec].target
        seen["logs"] = {str(p): p.read_bytes() for p in workdir.rglob("*.log")}
        seen["configs"] = {str(p): p.read_bytes() for p in workdir.rglob("*.conf") if p.is_file()}
        assert (spec == "reference") or target.log_path is not None

    records = run_suite_in_process(spec, workdir, pool, inside=inside)
    assert {r["verdict"] for r in records} <= {"pass", "warn", "skip", "unsupported"}
    paths = write_reports(tmp_path / "reports", records,
                          RunInfo(targets=[{"name": spec}], profile="default", started_at=0, duration_s=1))
    out, err = capfd.readouterr()
    texts = {str(p): p.read_bytes() for p in paths.values()}
    texts.update(seen["logs"])  # the LB's own log
    texts.update(seen["configs"])  # rendered configs name key files; they must not inline them
    texts["stdout+stderr"] = (out + err).encode()
    assert_no_secret(texts, seen["secrets"])
    # The detector itself works: a key pasted into a report, markers stripped, is caught.
    planted = key_files(cache)[0].read_bytes().replace(b"PRIVATE KEY", b"X")
    with pytest.raises(AssertionError, match="key material"):
        assert_no_secret({"planted": planted}, seen["secrets"])


def test_errors_about_key_files_never_quote_them(run_suite, lab, tmp_path):
    from cryptography.hazmat.primitives import serialization

    identity = lab.identity.write(tmp_path, "client")
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(lab.identity.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode())))
    secrets = secrets_of([identity.key])
    for cert, key in ((identity.key, identity.key), (identity.cert, encrypted), (identity.cert, lab.revoked.write(
            tmp_path, "other").key)):
        run = run_suite("--target", "https://127.0.0.1:1", "--client-cert", str(cert), "--client-key", str(key),
                        f"--debug={tmp_path}/pytestdebug.log")  # even the traceback
        assert run.exit_code == 4
        assert_no_secret({"output": run.output.encode()}, secrets)


def test_keypool_cache_is_private(tmp_path):
    pool = KeyPool(tmp_path / "cache")
    pool.get("p256", 99)
    assert_private(key_files(tmp_path / "cache"))

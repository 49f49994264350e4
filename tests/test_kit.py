"""``mtlsgate kit`` and ``mtlsgate lint``: the seed reproduced exactly, the modern kit clean, each trap explained."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID

from mtlsgate.kit.manifest import load_kit
from mtlsgate.pki.certs import CertSpec, issue, make_crl, pem
from mtlsgate.pki.keys import KeyPool, write_private

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "kit-test-p12"
SEED_FILES = {
    "server": {"ca_cert.conf", "server_cert.conf", "ca.key", "server.key", "ca.csr", "server.csr", "ca.crt",
               "server.crt", "ca.srl"},
    "client": {"ca_cert.conf", "client_cert.conf", "ca.key", "client.key", "ca.csr", "client.csr", "ca.crt",
               "client.crt", "ca.srl", "client.p12",
               "suite-crls.pem"},  # mtlsgate crls for the seed CA (no pathLen: the suite mints intermediates)
}

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command line is not installed")


def cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "MTLSGATE_P12_PASSWORD"}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "mtlsgate", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=full_env, input=stdin)


@pytest.fixture(scope="module")
def kits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("kits")
    out = {}
    for profile in ("seed", "modern"):
        proc = cli("kit", str(base / profile), "--profile", profile, "--p12-password", PASSWORD)
        assert proc.returncode == 0, proc.stderr
        out[profile] = base / profile
    return out


def crt(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


# --------------------------------------------------------------------------- seed


@needs_openssl
def test_a_kit_ships_the_suite_crl_bundle_when_its_ca_may_issue_intermediates(kits: dict[str, Path]) -> None:
    import json

    from mtlsgate.kit import load_kit
    from mtlsgate.pki import KeyPool
    from mtlsgate.targets import suite_cas

    seed = json.loads((kits["seed"] / "kit.json").read_text())
    assert seed["files"]["suite_crls"] == "client/suite-crls.pem"
    assert "client/suite-crls.pem" in (kits["seed"] / "UPLOAD.md").read_text()
    kit = load_kit(kits["seed"])
    marker = b"-----BEGIN X509 CRL-----"
    crls = [x509.load_pem_x509_crl(marker + b) for b in (kits["seed"] / "client/suite-crls.pem").read_bytes().split(marker)[1:]]
    cas = suite_cas(kit.client_ca, KeyPool(persistent=False))
    assert [c.issuer for c in crls] == [c.cert.subject for c in cas]
    assert all(crl.is_signature_valid(ca.cert.public_key()) for crl, ca in zip(crls, cas, strict=True))
    # The modern kit's client CA has pathLen 0: the suite mints no CA under it, nothing to ship.
    assert "suite_crls" not in json.loads((kits["modern"] / "kit.json").read_text())["files"]


@needs_openssl
def test_seed_kit_has_the_seed_file_names_and_subjects(kits: dict[str, Path]) -> None:
    d = kits["seed"]
    for side, names in SEED_FILES.items():
        assert {p.name for p in (d / side).iterdir()} == names
    expected = {"server/ca.crt": "O=ELB", "client/ca.crt": "O=ELB",
                "server/server.crt": "CN=www.test.com,O=ELB", "client/client.crt": "CN=www.test.com,O=ELB"}
    for rel, subject in expected.items():
        cert = crt(d / rel)
        assert cert.subject.rfc4514_string() == subject
        assert cert.signature_hash_algorithm is not None and cert.signature_hash_algorithm.name == "sha1"
        assert cert.version == x509.Version.v1
        assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 5000
        assert cert.public_key().key_size == 2048  # type: ignore[union-attr]
    assert crt(d / "server/server.crt").issuer == crt(d / "server/ca.crt").subject
    # Two different CAs under one name: the trap the guide sets.
    assert crt(d / "server/ca.crt").public_key() != crt(d / "client/ca.crt").public_key()


@needs_openssl
def test_seed_conf_files_are_the_guides(kits: dict[str, Path]) -> None:
    seed = ROOT / "fixtures" / "seed"
    guide = (ROOT.parent.parent / "shared" / "seed" / "mutual-authentication.md")
    for side, leaf in (("server", "server_cert.conf"), ("client", "client_cert.conf")):
        assert (kits["seed"] / side / "ca_cert.conf").read_text() == (seed / "ca_cert.conf").read_text()
        assert (kits["seed"] / side / leaf).read_text() == (seed / leaf).read_text()
    if guide.is_file():  # the fixtures hold the guide's text, byte for byte
        text = guide.read_text()
        for name in ("ca_cert.conf", "server_cert.conf"):
            assert "    " + (seed / name).read_text().replace("\n", "\n    ").rstrip() in text


@needs_openssl
def test_seed_cn_option_changes_only_the_cn(tmp_path: Path) -> None:
    proc = cli("kit", str(tmp_path / "k"), "--profile", "seed", "--cn", "10.0.0.5", "--p12-password", PASSWORD)
    assert proc.returncode == 0, proc.stderr
    assert crt(tmp_path / "k/server/server.crt").subject.rfc4514_string() == "CN=10.0.0.5,O=ELB"
    assert "CN                     = 10.0.0.5" in (tmp_path / "k/client/client_cert.conf").read_text()
    assert json.loads((tmp_path / "k/kit.json").read_text())["server_name"] == "10.0.0.5"


@needs_openssl
def test_seed_kit_prints_what_is_dated(tmp_path: Path) -> None:
    proc = cli("kit", str(tmp_path / "k"), "--profile", "seed", env={"MTLSGATE_P12_PASSWORD": PASSWORD})
    assert proc.returncode == 0
    for word in ("SHA-1", "subjectAltName", "5000-day", "basicConstraints", "clientAuth", "O=ELB", "CRL"):
        assert word in proc.stderr
    assert "## Dated" in (tmp_path / "k/UPLOAD.md").read_text()


@needs_openssl
@pytest.mark.parametrize("profile", ["seed", "modern"])
def test_openssl_opens_client_p12_with_the_password(kits: dict[str, Path], profile: str) -> None:
    p12 = kits[profile] / "client" / "client.p12"
    ok = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", f"pass:{PASSWORD}"],
                        capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0, ok.stderr
    assert "Shrouded Keybag" in ok.stdout + ok.stderr
    bad = subprocess.run(["openssl", "pkcs12", "-info", "-noout", "-in", str(p12), "-passin", "pass:wrong"],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode != 0


@pytest.mark.parametrize("profile", ["seed", "modern"])
def test_keys_are_private_and_dirs_closed(kits: dict[str, Path], profile: str) -> None:
    if profile == "seed" and shutil.which("openssl") is None:
        pytest.skip("openssl missing")
    d = kits[profile]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    for path in d.rglob("*"):
        if path.suffix in (".key", ".p12") or path.name.endswith(".password"):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        if path.is_dir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o700, path


def test_password_is_never_echoed(tmp_path: Path) -> None:
    proc = cli("kit", str(tmp_path / "a"), "--p12-password", "s3cret-value")
    assert proc.returncode == 0 and "s3cret-value" not in proc.stdout + proc.stderr
    proc = cli("kit", str(tmp_path / "b"), env={"MTLSGATE_P12_PASSWORD": "env-s3cret"})
    assert proc.returncode == 0 and "env-s3cret" not in proc.stdout + proc.stderr
    assert pkcs12.load_pkcs12((tmp_path / "b/client/client.p12").read_bytes(), b"env-s3cret").key is not None
    # No terminal and no password: one is generated and saved 0600, never printed.
    proc = cli("kit", str(tmp_path / "c"), stdin="")
    saved = (tmp_path / "c/client/client.p12.password").read_text().strip()
    assert proc.returncode == 0 and saved and saved not in proc.stdout + proc.stderr
    assert pkcs12.load_pkcs12((tmp_path / "c/client/client.p12").read_bytes(), saved.encode()).cert is not None


# --------------------------------------------------------------------------- modern


def test_modern_kit_is_what_the_issue_asks(kits: dict[str, Path]) -> None:
    kit = load_kit(kits["modern"])
    server = crt(kit.paths["server_cert"])
    assert server.signature_hash_algorithm.name == "sha256"  # type: ignore[union-attr]
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["www.test.com"]
    assert (server.not_valid_after_utc - server.not_valid_before_utc).days <= 398
    assert ExtendedKeyUsageOID.SERVER_AUTH in server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    bc = kit.client_ca.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    assert ExtendedKeyUsageOID.CLIENT_AUTH in kit.identity.cert.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage).value
    assert kit.crl is not None and kit.revoked is not None
    assert kit.crl.get_revoked_certificate_by_serial_number(kit.revoked.cert.serial_number) is not None
    assert kit.crl.get_revoked_certificate_by_serial_number(kit.identity.cert.serial_number) is None
    assert kit.crl.is_signature_valid(kit.client_ca.cert.public_key())  # type: ignore[arg-type]
    assert kit.client_ca.cert.subject != kit.server_ca.cert.subject  # type: ignore[union-attr]
    upload = (kits["modern"] / "UPLOAD.md").read_text()
    assert "client/client-ca.crt" in upload and "PEM" in upload and "secret" in upload


def test_modern_kit_options(tmp_path: Path) -> None:
    proc = cli("kit", str(tmp_path / "k"), "--cn", "lb.example.com", "--san", "10.1.2.3", "--san", "dns:alt.example.com",
               "--key", "rsa2048", "--p12-password", PASSWORD)
    assert proc.returncode == 0, proc.stderr
    server = crt(tmp_path / "k/server/server.crt")
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["lb.example.com", "alt.example.com"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["10.1.2.3"]
    assert server.public_key().key_size == 2048  # type: ignore[union-attr]


def test_kit_usage_errors_are_one_line(tmp_path: Path) -> None:
    made = cli("kit", str(tmp_path / "k"), "--p12-password", PASSWORD)
    assert made.returncode == 0
    again = cli("kit", str(tmp_path / "k"), "--p12-password", PASSWORD)
    assert again.returncode == 2 and "already holds a kit" in again.stderr and "Traceback" not in again.stderr
    bad = cli("kit", str(tmp_path / "s"), "--profile", "seed", "--key", "rsa2048", "--p12-password", PASSWORD)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    missing = cli("kit", "--emit-config", "nginx", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "no such directory" in missing.stderr


# --------------------------------------------------------------------------- lint on the kits


def lint(*args: str | Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return cli("lint", *map(str, args), env=env)


def test_lint_passes_the_modern_kit_clean(kits: dict[str, Path]) -> None:
    d = kits["modern"]
    files = sorted(p for p in d.glob("*/*") if p.suffix in (".crt", ".key", ".crl", ".p12"))
    proc = lint(*files, "--fail-on", "info", "--p12-password", PASSWORD)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.strip() == f"no findings in {len(files)} file(s)"


@needs_openssl
def test_lint_explains_each_trap_of_the_seed_kit(kits: dict[str, Path]) -> None:
    d = kits["seed"]
    files = sorted(d.glob("*/*.crt"))
    proc = lint(*files, "--format", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    found = {(Path(f["file"]).relative_to(d).as_posix(), f["id"]) for f in report["findings"]}
    assert found >= {
        ("server/server.crt", "signature.sha1"), ("server/server.crt", "server.no-san"),
        ("server/server.crt", "server.validity-too-long"),
        ("client/client.crt", "signature.sha1"), ("client/client.crt", "client.no-eku"),
        ("client/client.crt", "client.validity-long"),
        ("server/ca.crt", "ca.no-basic-constraints"), ("client/ca.crt", "ca.no-basic-constraints"),
        ("server/ca.crt", "signature.sha1"), ("server/ca.crt", "ca.same-name"),
    }
    for f in report["findings"]:
        assert f["severity"] in ("error", "warning", "info") and f["reason"] and f["fix"]
    text = lint(*files)
    assert "fix:" in text.stdout and "finding(s)" in text.stdout.splitlines()[-1]
    p12 = lint(d / "client/client.p12", "--p12-password", PASSWORD)
    assert "signature.sha1" in p12.stdout and "p12.key-unencrypted" not in p12.stdout


# --------------------------------------------------------------------------- lint, finding by finding


@pytest.fixture(scope="module")
def pool() -> KeyPool:
    return KeyPool()


def _lint_ids(*paths: Path, password: str | None = None) -> set[str]:
    args = [*paths, "--format", "json"] + (["--p12-password", password] if password else [])
    proc = lint(*args)
    assert proc.returncode in (0, 1), proc.stderr
    return {f["id"] for f in json.loads(proc.stdout)["findings"]}


def test_lint_findings_one_by_one(tmp_path: Path, pool: KeyPool) -> None:
    ca = issue(CertSpec.ca_spec("lint CA", path_length=0), pool=pool)
    other_ca = issue(CertSpec.ca_spec("lint other CA", key_slot=3), pool=pool)
    inter = issue(CertSpec.ca_spec("lint intermediate", key_slot=4), other_ca, pool=pool)
    leaf = issue(CertSpec(subject=(("CN", "leaf"),), eku=("clientAuth",), not_after=dt.timedelta(days=90)), inter,
                 pool=pool)

    def write(name: str, data: bytes) -> Path:
        (tmp_path / name).write_bytes(data)
        return tmp_path / name

    cases = {
        "der.crt": (write("der.crt", ca.cert_der), "encoding.der"),
        "order.pem": (write("order.pem", pem(leaf.cert, other_ca.cert, inter.cert)), "chain.out-of-order"),
        "gap.pem": (write("gap.pem", pem(leaf.cert, other_ca.cert)), "chain.incomplete"),
        "small.crt": (write("small.crt", issue(CertSpec(key="rsa1024"), ca, pool=pool).cert_pem), "key.rsa-small"),
        "expired.crt": (write("expired.crt", issue(CertSpec(not_before=dt.timedelta(days=-9),
                                                            not_after=dt.timedelta(days=-1)), ca, pool=pool).cert_pem),
                        "validity.expired"),
        "soon.crt": (write("soon.crt", issue(CertSpec(not_after=dt.timedelta(days=5)), ca, pool=pool).cert_pem),
                     "validity.expiring"),
        "weakbc.crt": (write("weakbc.crt", issue(CertSpec.ca_spec("weak bc", bc_critical=False), pool=pool).cert_pem),
                       "ca.basic-constraints-not-critical"),
        "client-eku.crt": (write("client-eku.crt", issue(CertSpec(eku=("emailProtection",)), ca,
                                                         pool=pool).cert_pem), "client.eku-without-client-auth"),
        "server.crt": (write("server.crt", issue(CertSpec(eku=("serverAuth",), not_after=dt.timedelta(days=800)),
                                                 ca, pool=pool).cert_pem), "server.validity-too-long"),
        "md5.crt": (write("md5.crt", issue(CertSpec(key="rsa2048", hash="md5"),
                                           issue(CertSpec.ca_spec("rsa", key="rsa2048"), pool=pool),
                                           pool=pool).cert_pem), "signature.md5"),
    }
    for name, (path, expected) in cases.items():
        assert expected in _lint_ids(path), name
    # A key that does not belong to the certificate next to it.
    write("pair.crt", leaf.cert_pem)
    write_private(tmp_path / "pair.key", other_ca.key_pem)  # slot 3: not the leaf's pooled key
    assert "key.mismatch" in _lint_ids(tmp_path / "pair.crt", tmp_path / "pair.key")
    write_private(tmp_path / "both.pem", leaf.cert_pem + leaf.key_pem)
    assert _lint_ids(tmp_path / "both.pem") == set()
    # A stale CRL, and one signed by the wrong CA.
    stale = write("stale.crl", pem(make_crl(ca, [], last_update=dt.timedelta(days=-9), next_update=dt.timedelta(days=-1))))
    assert "crl.stale" in _lint_ids(stale)
    forged = make_crl(other_ca, [])
    forged_under_ca_name = write("forged.crl", pem(forged))
    twin = issue(CertSpec.ca_spec("x", key_slot=5, subject_name=other_ca.cert.subject), pool=pool)
    write("twin.crt", twin.cert_pem)
    assert "crl.bad-signature" in _lint_ids(forged_under_ca_name, tmp_path / "twin.crt")


@needs_openssl
def test_lint_pkcs12_ciphers(tmp_path: Path, pool: KeyPool) -> None:
    ca = issue(CertSpec.ca_spec("p12 CA"), pool=pool)
    leaf = issue(CertSpec(key="rsa2048", not_after=dt.timedelta(days=90)), ca, pool=pool)
    leaf.write(tmp_path, "client")

    def export(name: str, *extra: str) -> Path:
        out = tmp_path / name
        proc = subprocess.run(["openssl", "pkcs12", "-export", "-in", str(tmp_path / "client.crt"), "-inkey",
                               str(tmp_path / "client.key"), "-out", str(out), "-passout", "pass:pw", *extra],
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            pytest.skip(f"openssl cannot make this PKCS#12: {proc.stderr.strip()[:200]}")
        return out

    assert _lint_ids(export("modern.p12"), password="pw") == set()
    assert "p12.weak-cipher" in _lint_ids(export("legacy.p12", "-legacy"), password="pw")
    assert "p12.key-unencrypted" in _lint_ids(export("plain.p12", "-keypbe", "NONE", "-certpbe", "NONE"), password="pw")
    wrong = lint(tmp_path / "modern.p12", "--p12-password", "nope")
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr


def test_lint_exit_codes_and_unreadable_input(tmp_path: Path, pool: KeyPool) -> None:
    soon = tmp_path / "soon.crt"
    ca = issue(CertSpec.ca_spec("exit CA"), pool=pool)
    soon.write_bytes(issue(CertSpec(not_after=dt.timedelta(days=5)), ca, pool=pool).cert_pem)
    assert lint(soon).returncode == 0  # a warning is below the default --fail-on error
    assert lint(soon, "--fail-on", "warning").returncode == 1
    junk = tmp_path / "junk.crt"
    junk.write_text("not a certificate\n")
    for bad in (junk, tmp_path / "absent.crt"):
        proc = lint(bad)
        assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1


# --------------------------------------------------------------------------- --kit for pytest


def test_kit_option_errors_are_one_line(tmp_path: Path, kits: dict[str, Path], run_suite) -> None:  # type: ignore[no-untyped-def]
    broken = tmp_path / "broken"
    shutil.copytree(kits["modern"], broken)
    (broken / "client" / "client-ca.key").unlink()
    run = run_suite(f"--kit={broken}", "--target", "https://127.0.0.1:9")
    assert run.exit_code == 4 and "client_ca_key file client/client-ca.key is missing" in run.output
    assert "Traceback" not in run.output
    (broken / "kit.json").write_text("{")
    run = run_suite(f"--kit={broken}", "--target", "https://127.0.0.1:9")
    assert run.exit_code == 4 and "not JSON" in run.output
    run = run_suite(f"--kit={tmp_path / 'none'}", "--target", "https://127.0.0.1:9")
    assert run.exit_code == 4 and "no such directory" in run.output
    run = run_suite(f"--kit={kits['modern']}")
    assert run.exit_code == 4 and "--kit needs --target" in run.output


def test_kit_fills_the_external_target(kits: dict[str, Path]) -> None:
    from mtlsgate.targets import TargetOptions, external_target

    kit = load_kit(kits["modern"])
    target = external_target("https://127.0.0.1:8443", TargetOptions(kit=kit), "default")
    assert target.server_name == "www.test.com" and target.server_ca == kit.server_ca_cert
    assert target.client_ca is kit.client_ca and target.revoked is kit.revoked and target.server_ca_key is kit.server_ca
    assert target.identity.cert.fingerprint(hashes.SHA256()) == kit.identity.cert.fingerprint(hashes.SHA256())  # type: ignore[union-attr]
    named = external_target("https://127.0.0.1:8443", TargetOptions(kit=kit, server_name="other.test"), "default")
    assert named.server_name == "other.test"

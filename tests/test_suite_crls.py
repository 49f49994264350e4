"""The CAs the suite mints under a client CA are the same everywhere, so ``mtlsgate crls`` works.

An operator makes the CRL bundle once (on a laptop) and appends it to the LB's CRL file;
the suite run in CI then mints intermediates with the same names and keys, and the LB
finds a CRL for each. And where the bundle is missing, the verdicts say so instead of
passing hollowly: ``accept.valid-intermediate`` fails naming both causes and the fix, and
the intermediate rejection checks are ``inconclusive``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mtlsgate.checks import catalogue
from mtlsgate.cli import main
from mtlsgate.fuzz import published_fuzz_cas
from mtlsgate.judge import INTERMEDIATE_CAUSES
from mtlsgate.pki import CertSpec, KeyPool, derive_key, issue
from mtlsgate.targets import suite_cas, suite_crls
from mtlsgate.targets.local import binary_for
from mtlsgate.targets.provision import in_ci

INTERMEDIATE_REJECTIONS = ("reject.expired-intermediate", "reject.pathlen-violation", "reject.too-deep")


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _facts(cas):
    return [(c.cert.subject.rfc4514_string(), c.cert.serial_number, _spki(c.cert)) for c in cas]


@pytest.fixture(scope="module")
def client_ca(tmp_path_factory):
    """A client CA as a user would hold one (its own key, not from the suite's pool)."""
    return issue(CertSpec.ca_spec("determinism test client CA", key="p256"),
                 pool=KeyPool(tmp_path_factory.mktemp("ca-pool")))


def test_two_fresh_pools_mint_identical_intermediates_and_bundles(client_ca, tmp_path):
    first, second = KeyPool(tmp_path / "cache-a"), KeyPool(tmp_path / "cache-b")
    cas_a, cas_b = suite_cas(client_ca, first), suite_cas(client_ca, second)
    assert len(cas_a) == len(published_fuzz_cas(first, client_ca)) + len(
        catalogue.published_intermediates(catalogue.Materials(pool=first, client_ca=client_ca)))
    assert _facts(cas_a) == _facts(cas_b)
    # What the checks themselves send goes through those same intermediates.
    check = catalogue.get("accept.valid-intermediate").build(catalogue.Materials(pool=second, client_ca=client_ca))
    assert _spki(check.chain[0]) in {f[2] for f in _facts(cas_a)}
    bundle_a, bundle_b = suite_crls(client_ca, first), suite_crls(client_ca, second)
    assert [c.issuer for c in bundle_a.crls] == [c.issuer for c in bundle_b.crls] == [c.cert.subject for c in cas_a]
    # Each CRL made with one pool verifies under the CA of the same name minted with the other.
    for crl, ca in zip(bundle_a.crls, cas_b, strict=True):
        assert crl.is_signature_valid(ca.cert.public_key())
        assert len(crl) == 0


def test_derived_keys_depend_on_the_ca_key_only(client_ca):
    other = issue(CertSpec.ca_spec("another CA", key="p256", key_slot=3), pool=KeyPool(persistent=False))
    a = derive_key(client_ca.key, "label", "p256")
    assert isinstance(a, ec.EllipticCurvePrivateKey)
    assert a.private_numbers().private_value == derive_key(client_ca.key, "label", "p256").private_numbers().private_value
    assert a.private_numbers().private_value != derive_key(other.key, "label", "p256").private_numbers().private_value
    r = derive_key(client_ca.key, "label", "rsa1024")
    assert isinstance(r, rsa.RSAPrivateKey) and r.key_size == 1024
    assert r.private_numbers() == derive_key(client_ca.key, "label", "rsa1024").private_numbers()


def test_crls_command_writes_the_bundle_and_says_until_when(client_ca, tmp_path, capsys):
    cert, key = tmp_path / "ca.crt", tmp_path / "ca.key"
    files = client_ca.write(tmp_path, "ca")
    assert (files.cert, files.key) == (cert, key)
    out = tmp_path / "suite-crls.pem"
    assert main(["crls", "--client-ca-cert", str(cert), "--client-ca-key", str(key), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    marker = b"-----BEGIN X509 CRL-----"
    crls = [x509.load_pem_x509_crl(marker + block) for block in out.read_bytes().split(marker)[1:]]
    assert len(crls) == len(suite_cas(client_ca, KeyPool(tmp_path / "pool")))
    assert f"wrote {len(crls)} empty CRLs" in printed and "valid for 365 days, until" in printed
    assert b"PRIVATE KEY" not in out.read_bytes()


def test_crls_command_bad_input_is_one_line_and_exit_2(client_ca, tmp_path, capsys):
    files = client_ca.write(tmp_path, "ca")
    leaf = issue(CertSpec(), client_ca, pool=KeyPool(persistent=False)).write(tmp_path, "leaf")
    zero = issue(CertSpec.ca_spec("pathlen 0 CA", path_length=0), pool=KeyPool(persistent=False)).write(tmp_path, "z")
    cases = [
        ["--client-ca-cert", str(tmp_path / "missing.crt"), "--client-ca-key", str(files.key)],
        ["--client-ca-cert", str(files.cert), "--client-ca-key", str(files.cert)],
        ["--client-ca-cert", str(files.cert), "--client-ca-key", str(leaf.key)],
        ["--client-ca-cert", str(leaf.cert), "--client-ca-key", str(leaf.key)],
        ["--client-ca-cert", str(zero.cert), "--client-ca-key", str(zero.key)],
        ["--client-ca-cert", str(files.cert)],
    ]
    for args in cases:
        out = tmp_path / "out.pem"
        assert main(["crls", *args, *(["--out", str(out)] if "--client-ca-key" in args else [])]) == 2, args
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    assert main(["crls", "--client-ca-cert", str(files.cert), "--client-ca-key", str(files.key),
                 "--out", str(tmp_path)]) == 2


def require(lb: str) -> None:
    if binary_for(lb) is None:
        if in_ci():
            pytest.fail(f"{lb} is not installed; every load balancer is required under CI=true", pytrace=False)
        pytest.skip(f"{lb} is not installed")


#: Local targets that offer no HTTP/3: their QUIC rows are not-applicable skips (Caddy and Traefik serve h3).
NO_HTTP3 = ("nginx", "haproxy")


def _rows(report: dict, check_id: str, lb: str) -> list[dict]:
    """The check's TLS 1.2 and 1.3 rows; its QUIC row is checked here: a not-applicable skip where there is no h3."""
    rows = {c["tls_version"]: c for c in report["checks"] if c["id"] == check_id}
    assert sorted(rows) == ["1.2", "1.3", "quic"], rows
    quic = rows["quic"]
    if lb in NO_HTTP3:
        assert (quic["verdict"], quic["observed"]) == ("skip", "not applicable"), quic
        assert quic["reason"].startswith("the target does not offer HTTP/3"), quic
    else:  # the target announces h3: the QUIC row ran (it is judged below where it matters)
        assert quic["observed"] not in ("not applicable", "not run"), quic
    return [rows["1.2"], rows["1.3"]]


@pytest.mark.parametrize("lb", ["nginx", "haproxy"])
def test_without_the_bundle_intermediate_checks_are_inconclusive_not_hollow_passes(run_suite, lb):
    require(lb)
    run = run_suite("--target", f"local:{lb}:no-suite-crls")
    assert run.exit_code == 1, run.output[-3000:]
    report = run.report
    for row in _rows(report, "accept.valid-intermediate", lb):
        assert row["verdict"] == "fail"
        assert INTERMEDIATE_CAUSES in row["reason"] and "mtlsgate crls" in row["reason"]
        assert "verify depth" in row["reason"] and "CRL" in row["reason"]
    for check_id in INTERMEDIATE_REJECTIONS:
        for row in _rows(report, check_id, lb):
            assert row["verdict"] == "inconclusive", row
            assert "accept.valid-intermediate" in row["reason"] and "refused too" in row["reason"]
    assert run.failed == {"accept.valid-intermediate"}
    assert report["counts"]["inconclusive"] >= 6


@pytest.mark.parametrize("lb", ["nginx", "haproxy"])
def test_with_the_bundle_loaded_nothing_fails_and_nothing_is_inconclusive(run_suite, lb):
    require(lb)
    run = run_suite("--target", f"local:{lb}")
    assert run.exit_code == 0, run.output[-3000:]
    report = run.report
    assert report["counts"]["fail"] == 0 and report["counts"]["inconclusive"] == 0, report["counts"]
    for check_id in ("accept.valid-intermediate", *INTERMEDIATE_REJECTIONS):
        assert {r["verdict"] for r in _rows(report, check_id, lb)} <= {"pass", "warn"}


@pytest.mark.parametrize("lb", ["caddy", "traefik"])
def test_a_withheld_md5_leaf_is_inconclusive_never_a_failure(run_suite, lb):
    """Go's TLS 1.3 CertificateRequest excludes MD5; OpenSSL sends no certificate; verify_if_given admits that."""
    require(lb)
    run = run_suite("--target", f"local:{lb}:verify-if-given")
    assert run.exit_code == 1, run.output[-3000:]
    report = run.report
    md5 = {r["tls_version"]: r for r in _rows(report, "reject.md5-signature", lb)}
    assert md5["1.3"]["verdict"] == "inconclusive", md5["1.3"]
    assert md5["1.3"]["outcome"]["evidence"]["certificate_sent"] is False
    assert "signature_algorithms_cert excludes MD5" in md5["1.3"]["reason"]
    assert md5["1.2"]["verdict"] != "fail", md5["1.2"]
    # Over QUIC (HTTP/3) the client (aioquic) sends the MD5 leaf whatever signature_algorithms_cert says:
    # the target judged it, so its rejection is a verdict, not a withheld certificate.
    quic = next(c for c in report["checks"] if c["id"] == "reject.md5-signature" and c["tls_version"] == "quic")
    assert isinstance(quic["outcome"]["evidence"]["certificate_sent"], dict), quic
    assert quic["verdict"] == "pass" and quic["observed"] == "rejected", quic
    # The mutant admits a client without a certificate over every transport, QUIC included.
    assert {r["verdict"] for r in _rows(report, "reject.no-cert", lb)} == {"fail"}
    no_cert_quic = next(c for c in report["checks"] if c["id"] == "reject.no-cert" and c["tls_version"] == "quic")
    assert no_cert_quic["verdict"] == "fail", no_cert_quic
    for row in report["checks"]:  # a certificate that was not sent is never judged as if it had been
        sent = ((row.get("outcome") or {}).get("evidence") or {}).get("certificate_sent")
        if row["certificate"] is not None and sent is False:
            assert row["verdict"] == "inconclusive", row


def test_docs_name_where_the_bundle_goes_for_each_lb():
    text = (Path(__file__).resolve().parent.parent / "docs" / "targets.md").read_text()
    for directive in ("ssl_crl", "crl-file", "SSLCARevocationFile", "CRLfile", "ca-crl-file", "mtlsgate crls"):
        assert directive in text, directive

"""The forging client of reject.no-proof-of-possession against a real OpenSSL server (the stdlib's, on loopback).

The check's rejections mean something only if the same client, signing with the right key,
gets in: otherwise the server refused something else (tlslite-ng 0.8 compressed the
certificate over TLS 1.3 for servers that never asked for it, so every server "rejected"
every attempt, also the honest one). So each TLS version is tried three ways: the right key
is accepted, another key gets decrypt_error, no CertificateVerify gets a rejection; and a
server that takes none of the key shares the client sends still gets a handshake. The key
exchange runs in OpenSSL, so every group it computes is tried against a server that allows
only that group, and its values are checked against tlslite's own arithmetic.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from types import SimpleNamespace

import pytest
from loopback import http_server

from mtlsgate.checks.possession import forged_handshake
from mtlsgate.pki import KeyPool, pem
from mtlsgate.wire import Accepted, RejectedEOF, RejectedTLS

VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def _server(lab, tmp: Path, version: str, curve: str | None = None, client_ca=None) -> ssl.SSLContext:
    """A server that requires a client certificate from the lab's client CA (as a correct LB does), or from ``client_ca``."""
    (tmp / "server.pem").write_bytes(lab.server_cert_pem)
    (tmp / "server.key").write_bytes(lab.server_key_pem)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = VERSIONS[version]
    ctx.load_cert_chain(tmp / "server.pem", tmp / "server.key")
    ctx.load_verify_locations(cadata=pem((client_ca or lab.client_root).cert).decode())
    ctx.verify_mode = ssl.CERT_REQUIRED
    if curve is not None:
        ctx.set_ecdh_curve(curve)  # OpenSSL 3: the server's only group
    return ctx


def _ctx(port: int, version: str) -> SimpleNamespace:
    """The parts of a CheckContext the forging client reads."""
    endpoint = SimpleNamespace(host="127.0.0.1", port=port)
    return SimpleNamespace(tls_version=version, timeout=5.0, protected_name="mtlsgate.test",
                           target=SimpleNamespace(server_name="mtlsgate.test", endpoint=endpoint))


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_right_key_gets_in_and_a_forged_or_missing_certificate_verify_does_not(lab, tmp_path, version):
    ident = lab.identity
    wrong = KeyPool().get("p256", 97)
    with http_server(_server(lab, tmp_path, version)) as port:
        honest, note = forged_handshake(_ctx(port, version), ident, ident.key, False)
        assert isinstance(honest, Accepted) and honest.status == 200, (honest, note)
        assert honest.evidence.tls_version == f"TLSv{version}"  # also once the server has closed
        forged, note = forged_handshake(_ctx(port, version), ident, wrong, False)
        assert isinstance(forged, RejectedTLS) and forged.alert == "decrypt_error", (forged, note)
        missing, note = forged_handshake(_ctx(port, version), ident, ident.key, True)
        assert isinstance(missing, (RejectedTLS, RejectedEOF)), (missing, note)


@pytest.mark.parametrize(("curve", "version"), [("prime256v1", "1.3"), ("secp384r1", "1.3"), ("secp521r1", "1.3"),
                                               ("X25519", "1.3"), ("prime256v1", "1.2")])
def test_every_group_the_server_insists_on_gets_a_handshake(lab, tmp_path, curve, version):
    """TLS 1.3: a HelloRetryRequest where the server wants a group without a key share; TLS 1.2: ECDHE over it.

    (A TLS 1.2 server with the lab's P-256 certificate cannot be held to another group: its
    ECDSA key's curve must be one it offers. Unrestricted, it takes x25519, the client's first.)
    """
    ident = lab.identity
    try:
        server = _server(lab, tmp_path, version, curve)
    except (ValueError, ssl.SSLError) as exc:
        pytest.skip(f"this ssl module cannot limit the server to {curve}: {exc}")
    with http_server(server) as port:
        honest, note = forged_handshake(_ctx(port, version), ident, ident.key, False)
        assert isinstance(honest, Accepted) and honest.status == 200, (honest, note)
        forged, note = forged_handshake(_ctx(port, version), ident, KeyPool().get("p256", 97), False)
        assert isinstance(forged, RejectedTLS) and forged.alert == "decrypt_error", (forged, note)


@pytest.mark.parametrize("group", ["x25519", "secp256r1", "secp384r1", "secp521r1"])
def test_the_key_exchange_in_openssl_agrees_with_tlslites_own(group):
    from tlslite.constants import GroupName
    from tlslite.errors import TLSIllegalParameterException
    from tlslite.keyexchange import ECDHKeyExchange

    from mtlsgate.checks.possession import _native_kex_classes

    native_class, _ = _native_kex_classes()
    code = getattr(GroupName, group)
    native, pure = native_class(code, (3, 4)), ECDHKeyExchange(code, (3, 4))
    ours, theirs = native.get_random_private_key(), pure.get_random_private_key()
    our_share, their_share = native.calc_public_value(ours), pure.calc_public_value(theirs)
    assert len(our_share) == len(their_share)
    assert native.calc_shared_key(ours, their_share) == pure.calc_shared_key(theirs, our_share)
    bad = bytearray(len(their_share)) if group == "x25519" else bytearray(b"\x04" + b"\x01" * (len(their_share) - 1))
    for kex, private in ((native, ours), (pure, theirs)):  # a low-order point, a point off the curve
        with pytest.raises(TLSIllegalParameterException):
            kex.calc_shared_key(private, bad)
    with pytest.raises(TLSIllegalParameterException):
        native.calc_shared_key(ours, their_share[:-1])


def _check_ctx(port: int, version: str, lab) -> SimpleNamespace:
    """What reject.no-proof-of-possession reads of its CheckContext."""
    from mtlsgate.judge import load_profile

    ctx = _ctx(port, version)
    ctx.__dict__.update(check_id="reject.no-proof-of-possession", expect="reject", valid=lab.identity,
                        materials=SimpleNamespace(pool=KeyPool()), profile=load_profile("default"),
                        baseline_valid=None)
    return ctx


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_the_check_counts_its_refusals_only_when_its_control_gets_in(lab, tmp_path, version):
    """A server that refuses the certificate itself (another client CA) refuses the forged handshakes too:
    without the control that looked like a pass; it is inconclusive, and a correct server still passes."""
    from mtlsgate.checks.possession import no_proof_of_possession
    from mtlsgate.judge import INCONCLUSIVE, PASS
    from mtlsgate.pki import CertSpec, issue

    with http_server(_server(lab, tmp_path, version)) as port:
        found = no_proof_of_possession(_check_ctx(port, version, lab))
    assert found.verdict.status == PASS, found.verdict
    assert found.attempts[-1].label.startswith("control") and isinstance(found.attempts[-1].outcome, Accepted)

    other_ca = issue(CertSpec.ca_spec("another client CA"), pool=KeyPool())
    with http_server(_server(lab, tmp_path, version, client_ca=other_ca)) as port:
        found = no_proof_of_possession(_check_ctx(port, version, lab))
    assert found.verdict.status == INCONCLUSIVE, found.verdict
    assert "the control" in found.verdict.reason and "prove nothing" in found.verdict.reason

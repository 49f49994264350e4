"""What the client actually sent, read from the wire (``Evidence.certificate_sent``).

Python's ``ssl`` has no API for it; the probe watches the outgoing Certificate handshake
message through ``SSLContext._msg_callback``. These tests hold that on this machine's
OpenSSL against real servers: the reference target (which requires a certificate), a
loopback server that asks for none, and Caddy with verify_if_given, whose TLS 1.3
CertificateRequest excludes MD5, so that OpenSSL's client withholds an MD5-signed leaf.
"""

from __future__ import annotations

import ssl

import pytest
from cryptography.hazmat.primitives import hashes
from loopback import http_server, tls_without_client_auth

from mtlsgate.checks import catalogue
from mtlsgate.targets.local import binary_for
from mtlsgate.targets.provision import in_ci, run_local
from mtlsgate.wire.outcome import Accepted, RejectedTLS, SentCertificate
from mtlsgate.wire.probe import Endpoint, Prober, Transport, parse_certificate_message

pytestmark = pytest.mark.skipif(not hasattr(ssl.SSLContext, "_msg_callback"),
                                reason="this Python's ssl has no _msg_callback")


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_sent_certificate_is_recorded_with_its_leaf(reference, lab, version):
    endpoint, prober = reference
    outcome = prober.probe(endpoint, lab.identity, Transport(version, "mtlsgate.test"))
    assert isinstance(outcome, Accepted)
    sent = outcome.evidence.certificate_sent
    assert isinstance(sent, SentCertificate)
    assert sent.sha256 == lab.identity.cert.fingerprint(hashes.SHA256()).hex()
    assert sent.subject == lab.identity.cert.subject.rfc4514_string()
    assert sent.chain_length == 1 + len(lab.identity.chain)


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_no_certificate_is_recorded_as_not_sent(reference, version):
    endpoint, prober = reference
    outcome = prober.probe(endpoint, None, Transport(version, "mtlsgate.test"))
    assert isinstance(outcome, RejectedTLS)
    assert outcome.evidence.certificate_sent is False
    assert outcome.evidence.certificate_request_sigalgs  # the server's CertificateRequest, read back


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_certificate_nobody_asked_for_is_not_sent(tmp_path, lab, version):
    ctx, ca_file = tls_without_client_auth(tmp_path)
    with http_server(ctx) as port:
        outcome = Prober(tmp_path, ca_file).probe(Endpoint("127.0.0.1", port), lab.identity,
                                                  Transport(version, "mtlsgate.test"))
    assert isinstance(outcome, Accepted)
    assert outcome.evidence.certificate_sent is False


def test_an_md5_leaf_is_withheld_from_caddy_under_tls13_and_the_probe_says_so(tmp_path, pool):
    """Caddy (Go) with verify_if_given: its CertificateRequest excludes MD5, so OpenSSL sends no certificate."""
    if binary_for("caddy") is None:
        if in_ci():
            pytest.fail("caddy is not installed; every load balancer is required under CI=true", pytrace=False)
        pytest.skip("caddy is not installed")
    with run_local("caddy:verify-if-given", pool=pool, workdir=tmp_path) as target:
        materials = catalogue.Materials(pool=pool, client_ca=target.client_ca)
        md5 = catalogue.get("reject.md5-signature").build(materials)
        sha256 = catalogue.get("accept.rsa-2048").build(materials)
        prober = Prober(tmp_path, target.server_ca)
        transport = Transport("1.3", target.server_name)
        withheld = prober.probe(target.endpoint, md5, transport)
        sent = prober.probe(target.endpoint, sha256, transport)
    # The listener admits a client without a certificate: judged as sent, the MD5 check would "fail".
    assert isinstance(withheld, Accepted)
    assert withheld.evidence.certificate_sent is False
    algs = withheld.evidence.certificate_request_sigalgs
    assert algs and not any("md5" in alg for alg in algs)
    assert isinstance(sent, Accepted) and isinstance(sent.evidence.certificate_sent, SentCertificate)
    assert sent.evidence.certificate_sent.sha256 == sha256.cert.fingerprint(hashes.SHA256()).hex()


def test_certificate_message_framing():
    cert = b"\x30\x03\x02\x01\x01"  # not a certificate: unreadable -> None
    tls12 = b"\x0b\x00\x00\x0b" + b"\x00\x00\x08" + b"\x00\x00\x05" + cert
    assert parse_certificate_message(tls12, tls13=False) is None
    assert parse_certificate_message(b"\x0b\x00\x00\x03\x00\x00\x00", tls13=False) is False
    assert parse_certificate_message(b"\x0b\x00\x00\x04\x00\x00\x00\x00", tls13=True) is False
    assert parse_certificate_message(b"\x0b\x00", tls13=True) is None

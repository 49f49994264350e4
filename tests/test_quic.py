"""The QUIC probe: CRYPTO_ERROR codes become the TCP probe's alerts, silence and ICMP become Unreachable.

The real target side (Caddy and Traefik serving HTTP/3 with client auth) runs in
test_lb_mutants.py through ``pytest --target local:caddy``; here are the mapping and the
failure modes that need no LB.
"""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from mtlsgate.gate.lifecycle import _h3_offer
from mtlsgate.wire.outcome import Accepted, Evidence, RejectedEOF, RejectedTLS, SentCertificate, Unreachable
from mtlsgate.wire.probe import TRANSPORTS, Endpoint, Prober, Transport
from mtlsgate.wire.quic import classify_close, crypto_error_alert


@pytest.mark.parametrize(("code", "alert"), [
    (0x174, "certificate_required"),  # no certificate (Caddy, Traefik)
    (0x12D, "certificate_expired"),
    (0x130, "unknown_ca"),  # self-signed
    (0x12A, "bad_certificate"),  # serverAuth-only EKU
    (0x12C, "certificate_revoked"),
    (0x128, "handshake_failure"),
    (0x170, "unrecognized_name"),
    (0x100, "close_notify"),
    (0x1FF, "alert_255"),  # in the range but no alert we know: still a TLS rejection, named by number
])
def test_crypto_error_codes_are_tls_alerts(code, alert):
    assert crypto_error_alert(code) == alert


@pytest.mark.parametrize("code", [0x0, 0x1, 0x2, 0xA, 0xFF, 0x200, 0x1000])
def test_codes_outside_the_crypto_error_range_are_not_alerts(code):
    assert crypto_error_alert(code) is None


def test_a_crypto_error_close_is_a_tls_rejection_in_the_phase_reached():
    ev = Evidence(requested_version="quic")
    outcome = classify_close(0x174, "tls: client didn't provide a certificate", ev, phase="after-handshake")
    assert isinstance(outcome, RejectedTLS)
    assert (outcome.alert, outcome.phase) == ("certificate_required", "after-handshake")
    assert "CRYPTO_ERROR 0x174" in outcome.evidence.detail and "didn't provide" in outcome.evidence.detail
    early = classify_close(0x130, "", ev, phase="handshake")
    assert isinstance(early, RejectedTLS) and (early.alert, early.phase) == ("unknown_ca", "handshake")


def test_an_application_close_is_never_read_as_an_alert():
    # HTTP/3 error codes (H3_NO_ERROR = 0x100 ... 0x110) overlap the CRYPTO_ERROR range numerically.
    outcome = classify_close(0x100, "", Evidence(), phase="after-handshake", application=True)
    assert isinstance(outcome, RejectedEOF)
    assert "application" in outcome.evidence.detail


def test_other_transport_closes_are_a_bare_close():
    outcome = classify_close(0x2, "busy", Evidence(), phase="handshake")
    assert isinstance(outcome, RejectedEOF) and "CONNECTION_REFUSED" in outcome.evidence.detail


def test_quic_is_a_transport():
    assert "quic" in TRANSPORTS
    assert Transport("quic", "x.test").tls_version == "quic"
    with pytest.raises(ValueError):
        Transport("1.4", "x.test")


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_nothing_on_the_udp_port_is_unreachable(tmp_path):
    port = _free_udp_port()
    outcome = Prober(tmp_path, None, retries=0).probe(Endpoint("127.0.0.1", port), None,
                                                      Transport("quic", "x.test", timeout=2))
    assert isinstance(outcome, Unreachable), outcome
    assert outcome.evidence.requested_version == "quic"


def test_a_silent_udp_port_is_unreachable_by_the_deadline(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:  # bound, never answers
        silent.bind(("127.0.0.1", 0))
        endpoint = Endpoint("127.0.0.1", silent.getsockname()[1])
        outcome = Prober(tmp_path, None, retries=0).probe(endpoint, None, Transport("quic", "x.test", timeout=0.5))
    assert isinstance(outcome, Unreachable) and "no QUIC answer within" in outcome.reason


def test_alt_svc_h3_is_the_offer_and_other_protocols_are_not():
    def state(alt_svc):
        return [Accepted(200, (), Evidence(requested_version="1.3", alt_svc=alt_svc))]

    assert _h3_offer(state('h3=":8443"; ma=2592000')) == 'h3=":8443"; ma=2592000'
    assert _h3_offer(state('h2=":443", h3=":443"')) == 'h3=":443"'
    assert _h3_offer(state('h3-29=":443"')) is None  # a draft version, not HTTP/3
    assert _h3_offer(state(None)) is None
    assert _h3_offer([]) is None


def test_a_run_without_quic_never_imports_aioquic():
    code = ("import sys, mtlsgate.plugin, mtlsgate.wire, mtlsgate.gate; "
            "print(sorted(m for m in sys.modules if m.startswith('aioquic')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_quic_rows_get_their_own_column_and_match_the_schema():
    from reportschema import validate_report

    from mtlsgate.gate.records import CheckRecord
    from mtlsgate.report.html import build_html
    from mtlsgate.report.jsonfile import build_json
    from mtlsgate.report.status import RunInfo
    from mtlsgate.wire.outcome import to_dict

    # What the QUIC probe records (wire/quic.py _certificate_sent): the leaf it sent, in the TCP probe's shape.
    sent = SentCertificate(subject="CN=expired client,O=mtlsgate", sha256="ab" * 32, chain_length=2)
    closed = classify_close(0x12D, "", Evidence(requested_version="quic", certificate_sent=sent), phase="after-handshake")
    records = [CheckRecord(id="reject.expired", tls_version=v, target="local:caddy", group="validity", verdict="pass",
                           expected="reject", observed="rejected", reason="rejected", presents="an expired leaf",
                           outcome=to_dict(closed)).to_dict() for v in TRANSPORTS]
    info = RunInfo(targets=[{"name": "local:caddy"}], profile="caddy", started_at=0, duration_s=1.0)
    page = build_html(records, info)
    assert "<th>TLS 1.2</th><th>TLS 1.3</th><th>QUIC</th>" in page
    report = validate_report(build_json(records, info))
    row = next(c for c in report["checks"] if c["tls_version"] == "quic")
    assert row["outcome"]["alert"] == "certificate_expired"
    assert row["outcome"]["evidence"]["certificate_sent"] == {"subject": "CN=expired client,O=mtlsgate",
                                                              "sha256": "ab" * 32, "chain_length": 2}


def test_without_server_ca_quic_trusts_what_the_tcp_probe_trusts(tmp_path, monkeypatch):
    """The default trust is the system store for both transports (SSL_CERT_FILE honoured), never another bundle:
    a server only the TCP probe trusted would make an h3 parity check blame the listener."""
    import ssl
    from types import SimpleNamespace

    import trustme
    from cryptography import x509

    from mtlsgate.wire.quic import _verify_server

    ca, other = trustme.CA(), trustme.CA()
    (tmp_path / "ca.pem").write_bytes(ca.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))  # no other CAs
    tcp = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    tcp.load_default_certs()
    assert tcp.cert_store_stats()["x509_ca"] == 1  # what the TCP probe trusts here: this CA alone
    for issuer, trusted in ((ca, True), (other, False)):
        leaf = x509.load_pem_x509_certificate(issuer.issue_cert("mtlsgate.test").cert_chain_pems[0].bytes())
        problem = _verify_server(SimpleNamespace(_peer_certificate=leaf, _peer_certificate_chain=[]), None,
                                 "mtlsgate.test")
        assert (problem is None) is trusted, problem

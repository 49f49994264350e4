"""The probe classifies exactly what happened on the wire."""

from __future__ import annotations

import pytest
from loopback import http_server, tls_without_client_auth

from mtlsgate.wire.outcome import Accepted, Evidence, RejectedEOF, RejectedHTTP, RejectedTLS, Unreachable
from mtlsgate.wire.probe import Endpoint, Prober, Transport, alert_name, body_marker, classify_response, parse_echo


def test_alert_names():
    assert alert_name("TLSV13_ALERT_CERTIFICATE_REQUIRED") == "certificate_required"
    assert alert_name("SSLV3_ALERT_BAD_CERTIFICATE") == "bad_certificate"
    assert alert_name("WRONG_VERSION_NUMBER") is None


def test_http_classification():
    ev = Evidence()
    assert isinstance(classify_response(400, b"<html>400 No required SSL certificate was sent</html>", ev), RejectedHTTP)
    assert body_marker(b"<h1>400</h1> No required SSL certificate was sent") == "No required SSL certificate was sent"
    assert classify_response(421, b"", ev).kind == "misdirected"
    assert isinstance(classify_response(200, b"hi", ev), Accepted)
    echo = b'{"mtlsgate_echo": true, "headers": [["A", "b"]]}'
    assert parse_echo(echo) == (("A", "b"),)
    assert parse_echo(b'{"headers": []}') is None


@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_no_certificate_is_an_alert_at_the_right_phase(reference, version):
    endpoint, prober = reference
    outcome = prober.probe(endpoint, None, Transport(version, "mtlsgate.test"))
    assert isinstance(outcome, RejectedTLS)
    # TLS 1.3 servers verify after the client thinks the handshake is done: only the read sees it
    assert outcome.phase == ("handshake" if version == "1.2" else "after-handshake")
    assert outcome.alert == ("handshake_failure" if version == "1.2" else "certificate_required")


def test_valid_client_reaches_the_backend_with_evidence(reference, lab):
    endpoint, prober = reference
    outcome = prober.probe(endpoint, lab.identity, Transport("1.3", "mtlsgate.test"))
    assert isinstance(outcome, Accepted) and outcome.reached_backend
    assert outcome.evidence.tls_version == "TLSv1.3" and outcome.evidence.elapsed_ms > 0
    assert ("X-SSL-Client-Verify", "SUCCESS") in outcome.echoed_headers


def test_nothing_listening_is_unreachable(tmp_path):
    outcome = Prober(tmp_path, None).probe(Endpoint("127.0.0.1", 1), None, Transport("1.3", "x.test", timeout=2))
    assert isinstance(outcome, Unreachable) and "refused" in outcome.reason


def test_plain_http_is_not_tls(tmp_path):
    with http_server() as port:
        outcome = Prober(tmp_path, None).probe(Endpoint("127.0.0.1", port), None, Transport("1.2", "x.test"))
    assert isinstance(outcome, Unreachable) and "does not speak TLS" in outcome.reason


def test_untrusted_server_certificate_is_unreachable_not_a_rejection(tmp_path):
    ctx, _ = tls_without_client_auth(tmp_path)
    with http_server(ctx) as port:
        outcome = Prober(tmp_path, None).probe(Endpoint("127.0.0.1", port), None, Transport("1.3", "mtlsgate.test"))
    assert isinstance(outcome, Unreachable) and "did not verify" in outcome.reason


def _closing_server(send_first: bytes = b""):
    """Accepts every connection, reads a little, optionally answers ``send_first``, closes."""
    import socket
    import threading

    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(4096)
                    if send_first:
                        conn.sendall(send_first)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return srv, stop, thread


@pytest.mark.parametrize("first_flight,transient", [
    (b"", True),  # closed before the server said anything: the certificate was never judged
    (bytes.fromhex("160303004a02000046"), False),  # a truncated ServerHello, then EOF: a rejection
])
def test_server_closing_the_connection(tmp_path, first_flight, transient):
    srv, stop, thread = _closing_server(first_flight)
    try:
        outcome = Prober(tmp_path, None).probe(Endpoint("127.0.0.1", srv.getsockname()[1]), None,
                                               Transport("1.2", "x.test", timeout=2))
    finally:
        stop.set()
        thread.join(2)
        srv.close()
    if transient:
        assert isinstance(outcome, Unreachable) and outcome.transient and "before answering" in outcome.reason
        assert outcome.evidence.retries == 2
    else:
        assert isinstance(outcome, RejectedEOF) and outcome.phase == "handshake"
        assert outcome.evidence.retries == 0


def test_deadlines_share_one_watchdog_fire_in_order_and_never_after_their_attempt():
    """A silent peer is cut off at its attempt's deadline; an attempt that ended is never touched afterwards."""
    import socket as socketlib

    from mtlsgate.wire.deadline import Deadline

    pairs = [socketlib.socketpair() for _ in range(3)]
    for mine, _peer in pairs:
        mine.settimeout(30)  # a broken watchdog fails the test instead of hanging it
    finished = Deadline(0.2)
    with finished:
        finished.watch(pairs[2][0])
    got = []
    with Deadline(0.6) as late, Deadline(0.3) as early:
        early.watch(pairs[0][0])
        late.watch(pairs[1][0])
        got.append(pairs[0][0].recv(1))  # the silent peer: the early deadline ends the read
        assert early.expired and not late.expired
        got.append(pairs[1][0].recv(1))
        assert late.expired
    assert got == [b"", b""]
    pairs[2][1].sendall(b"x")
    assert pairs[2][0].recv(1) == b"x" and not finished.expired
    for mine, peer in pairs:
        mine.close()
        peer.close()

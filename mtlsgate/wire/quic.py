"""One attempt over QUIC: the same credential and the same single request, as HTTP/3.

LBs authenticate clients over QUIC through other code than over TCP (Go's quic-go in
Caddy and Traefik, their own SNI lookup, their own resumption), so a listener airtight
over TCP can be open over UDP on the same port. This probe mirrors :func:`run_probe`:
one connection, one ``GET``, a bounded read, a hard deadline, and the same
:class:`~mtlsgate.wire.outcome.Outcome` taxonomy:

* ``CONNECTION_CLOSE`` with a CRYPTO_ERROR (``0x100 + alert``, RFC 9001 §4.8) is
  :class:`RejectedTLS` with that alert, in the phase the client had reached;
* an HTTP/3 answer is classified like an HTTP/1.1 one (4xx ``RejectedHTTP``, 421
  ``Misdirected``, the echo backend ``Accepted``);
* any other close is :class:`RejectedEOF`; silence, ICMP port unreachable (the UDP
  socket is connected so the kernel reports it) and an unverifiable server certificate
  are :class:`Unreachable`.

``aioquic`` is imported only here, and this module only when a QUIC attempt runs: a run
without QUIC never pays its import. Each attempt runs its own asyncio loop under
``wait_for`` (no thread, no loop left behind) and closes its socket in ``finally``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .outcome import Evidence, Outcome, RejectedEOF, RejectedTLS, SentCertificate, Unreachable

if TYPE_CHECKING:  # probe.py imports this module: the annotations only
    from .probe import Endpoint, Transport

QUIC = "quic"
#: QUIC transport error codes 0x100-0x1ff carry a TLS alert (RFC 9001 §4.8).
CRYPTO_ERROR_BASE = 0x100

#: TLS alert numbers (RFC 8446 §6, RFC 6066, RFC 7301) -> the names the TCP probe reports.
ALERTS: dict[int, str] = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}
#: QUIC transport error names (RFC 9000 §20.1) for the evidence of a non-TLS close.
TRANSPORT_ERRORS: dict[int, str] = {
    0x0: "NO_ERROR", 0x1: "INTERNAL_ERROR", 0x2: "CONNECTION_REFUSED", 0x3: "FLOW_CONTROL_ERROR",
    0x4: "STREAM_LIMIT_ERROR", 0x5: "STREAM_STATE_ERROR", 0x6: "FINAL_SIZE_ERROR", 0x7: "FRAME_ENCODING_ERROR",
    0x8: "TRANSPORT_PARAMETER_ERROR", 0x9: "CONNECTION_ID_LIMIT_ERROR", 0xA: "PROTOCOL_VIOLATION",
    0xB: "INVALID_TOKEN", 0xC: "APPLICATION_ERROR", 0xD: "CRYPTO_BUFFER_EXCEEDED", 0xE: "KEY_UPDATE_ERROR",
    0xF: "AEAD_LIMIT_REACHED", 0x10: "NO_VIABLE_PATH",
}
MAX_BODY = 64 * 1024


def crypto_error_alert(error_code: int) -> str | None:
    """``0x174`` -> ``certificate_required``; None for a code outside the CRYPTO_ERROR range."""
    if not CRYPTO_ERROR_BASE <= error_code <= CRYPTO_ERROR_BASE + 0xFF:
        return None
    number = error_code - CRYPTO_ERROR_BASE
    return ALERTS.get(number, f"alert_{number}")


def classify_close(error_code: int, reason_phrase: str, evidence: Evidence, *, phase: str,
                   application: bool = False) -> Outcome:
    """What a QUIC ``CONNECTION_CLOSE`` from the server means for the attempt.

    A CRYPTO_ERROR is the TLS alert of the TCP world; any other close (an application
    close, ``NO_ERROR``, ``CONNECTION_REFUSED``...) with no HTTP answer is the QUIC form of
    a bare EOF. ``application``: the close was an application close (HTTP/3 error codes).
    """
    alert = None if application else crypto_error_alert(error_code)
    kind = "application" if application else "transport"
    name = "" if application else TRANSPORT_ERRORS.get(error_code, "")
    what = f"QUIC CONNECTION_CLOSE ({kind}) error 0x{error_code:x}" + (f" {name}" if name else "")
    if alert is not None:
        what = f"QUIC CONNECTION_CLOSE CRYPTO_ERROR 0x{error_code:x} (TLS alert {error_code - CRYPTO_ERROR_BASE})"
    detail = what + (f": {reason_phrase}" if reason_phrase else "")
    evidence = replace(evidence, detail=(evidence.detail + "; " if evidence.detail else "") + detail)
    if alert is not None:
        return RejectedTLS(alert, phase, evidence)
    return RejectedEOF(phase, evidence)


@dataclass
class _Result:
    """What one QUIC attempt saw (filled by the protocol's callbacks inside the loop)."""

    handshake_done: bool = False
    alpn: str | None = None
    status: int | None = None
    body: bytearray = field(default_factory=bytearray)
    ended: bool = False
    close: tuple[int, str, bool] | None = None  # the server's CONNECTION_CLOSE: code, reason, application close?
    gave_up: str | None = None  # the client ended the connection itself (idle timeout, a local TLS error)
    icmp: OSError | None = None
    certificate_sent: SentCertificate | bool | None = None
    cipher: str | None = None
    resumed: bool = False  # the handshake resumed the offered session (PSK)
    tickets: list[Any] = field(default_factory=list)  # aioquic SessionTickets the server issued


def _protocol_class() -> type:
    """The aioquic protocol that speaks HTTP/3 and records what happened (built on first use)."""
    from aioquic.asyncio.protocol import QuicConnectionProtocol
    from aioquic.h3.connection import H3Connection
    from aioquic.h3.events import DataReceived, HeadersReceived
    from aioquic.quic.connection import QuicConnectionState
    from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, StreamDataReceived

    draining = QuicConnectionState.DRAINING

    class H3Probe(QuicConnectionProtocol):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.h3 = H3Connection(self._quic)
            self.result = _Result()
            self.done = asyncio.Event()

        def quic_event_received(self, event: Any) -> None:
            r = self.result
            if isinstance(event, HandshakeCompleted):
                r.handshake_done = True
                r.resumed = bool(getattr(event, "session_resumed", False))
                r.alpn = event.alpn_protocol
            elif isinstance(event, ConnectionTerminated):
                if r.close is None and r.gave_up is None:  # not the server's close: our own
                    r.gave_up = f"0x{event.error_code:x} {event.reason_phrase or ''}".strip()
                self.done.set()
            if not isinstance(event, ConnectionTerminated):
                for h3_event in self.h3.handle_event(event):
                    if isinstance(h3_event, HeadersReceived):
                        for name, value in h3_event.headers:
                            if name == b":status" and r.status is None:
                                r.status = int(value)
                        r.ended = r.ended or h3_event.stream_ended
                    elif isinstance(h3_event, DataReceived):
                        r.body += h3_event.data[: MAX_BODY - len(r.body)]
                        r.ended = r.ended or h3_event.stream_ended or len(r.body) >= MAX_BODY
                    if r.ended:
                        self.done.set()
            if not isinstance(event, StreamDataReceived):  # H3 owns the streams: no asyncio stream objects
                super().quic_event_received(event)

        def datagram_received(self, data: bytes | str, addr: Any) -> None:
            super().datagram_received(data, addr)
            # The server's CONNECTION_CLOSE puts the connection into draining; aioquic reports
            # it only after the draining period (and reports its own closes the same way), so
            # the peer's close is taken here, when it arrives.
            quic = self._quic
            if self.result.close is None and quic._state == draining and quic._close_event is not None:
                event = quic._close_event  # an application close (HTTP/3 codes) carries no frame type
                self.result.close = (event.error_code, event.reason_phrase or "", event.frame_type is None)
                self.done.set()

        def error_received(self, exc: OSError) -> None:  # ICMP on the connected socket
            if self.result.icmp is None:
                self.result.icmp = exc
            self.done.set()

    return H3Probe


def _configuration(files: tuple[Path, Path] | None, server_ca: Path | None, server_name: str | None,
                   timeout: float) -> Any:
    """The client configuration; the server certificate is checked after the handshake (:func:`_verify_server`).

    aioquic's own check closes the connection with a CRYPTO_ERROR that would read like the
    target's alert; checking it ourselves keeps "the client refused the server" apart from
    "the server refused the client", and allows a chain check without the hostname.
    """
    from aioquic.h3.connection import H3_ALPN
    from aioquic.quic.configuration import QuicConfiguration

    config = QuicConfiguration(is_client=True, alpn_protocols=list(H3_ALPN), idle_timeout=timeout,
                               server_name=server_name)
    config.verify_mode = ssl.CERT_NONE
    if files is not None:
        config.load_cert_chain(str(files[0]), str(files[1]))
    return config


def _certificate_sent(tls: Any) -> SentCertificate | bool | None:
    """The leaf the client's Certificate message carried; False: an empty one; None: no CertificateRequest came.

    The same shape the TCP probe records, so a certificate that never left the client is
    never judged, whichever transport the check ran over.
    """
    from aioquic.tls import negotiate
    from cryptography.hazmat.primitives import hashes

    request = getattr(tls, "_certificate_request", None)
    if request is None:
        return None
    if tls.certificate is None or tls.certificate_private_key is None:
        return False
    try:
        if negotiate(tls._signature_algorithms_for_private_key(), request.signature_algorithms) is None:
            return False
    except Exception:  # noqa: BLE001 - aioquic internals: unknown is better than a crash
        return None
    cert = tls.certificate
    return SentCertificate(subject=cert.subject.rfc4514_string(), sha256=cert.fingerprint(hashes.SHA256()).hex(),
                           chain_length=1 + len(getattr(tls, "certificate_chain", None) or ()))


def _verify_server(tls: Any, server_ca: Path | None, server_name: str | None) -> str | None:
    """The server's chain (and name, unless ``server_name`` is None); None if it verifies."""
    from aioquic.tls import verify_certificate

    cert = getattr(tls, "_peer_certificate", None)
    if cert is None:
        return None  # never got that far: the outcome says why
    if server_ca is None:
        # The TCP probe's default trust (ssl's load_default_certs): OpenSSL's default file and
        # directory, SSL_CERT_FILE / SSL_CERT_DIR honoured. Another bundle (certifi) could make
        # QUIC and TCP disagree about the same server and a parity check blame the listener.
        paths = ssl.get_default_verify_paths()
        cafile, capath = paths.cafile, paths.capath
    else:
        cafile, capath = str(server_ca), None
    try:
        verify_certificate(cert, list(getattr(tls, "_peer_certificate_chain", [])), server_name, cafile=cafile,
                           capath=capath)
    except Exception as exc:  # noqa: BLE001 - aioquic raises Alert subclasses
        return str(exc) or type(exc).__name__
    return None


def _address(endpoint: Endpoint) -> tuple[int, Any]:
    """The UDP address, resolved in the calling thread (the loop's resolver would start an executor thread)."""
    family, _, _, _, addr = socket.getaddrinfo(endpoint.host.strip("[]"), endpoint.port, type=socket.SOCK_DGRAM)[0]
    return family, addr


async def _attempt(endpoint: Endpoint, config: Any, transport: Transport, host_header: str,
                   server_ca: Path | None, check_name: str | None) -> tuple[_Result, str | None]:
    from aioquic.quic.connection import QuicConnection

    loop = asyncio.get_running_loop()
    tickets: list[Any] = []
    family, addr = _address(endpoint)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    udp = None
    try:
        sock.setblocking(False)
        sock.connect(addr)  # connected: the kernel reports ICMP port unreachable as an error
        udp, proto = await loop.create_datagram_endpoint(
            lambda: _protocol_class()(QuicConnection(configuration=config, session_ticket_handler=tickets.append)),
            sock=sock)
        proto.connect(addr)
        result: _Result = proto.result
        result.tickets = tickets
        handshake = asyncio.ensure_future(proto.wait_connected())
        closed = asyncio.ensure_future(proto.done.wait())
        await asyncio.wait({handshake, closed}, return_when=asyncio.FIRST_COMPLETED)
        for fut in (handshake, closed):
            if not fut.done():
                fut.cancel()
        await asyncio.gather(handshake, closed, return_exceptions=True)
        tls = proto._quic.tls
        result.certificate_sent = _certificate_sent(tls)
        suite = getattr(getattr(tls, "key_schedule", None), "cipher_suite", None)
        result.cipher = suite.name if suite is not None else None
        bad_cert = _verify_server(tls, server_ca, check_name)
        if bad_cert is not None or not result.handshake_done or result.close or result.gave_up or result.icmp:
            return result, bad_cert
        stream_id = proto._quic.get_next_available_stream_id()
        headers = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", host_header.encode()),
                   (b":path", transport.path.encode()), (b"user-agent", b"mtlsgate")]
        headers += [(k.lower().encode(), v.encode()) for k, v in transport.headers if k.lower() != "host"]
        proto.h3.send_headers(stream_id, headers, end_stream=True)
        proto.transmit()
        await proto.done.wait()
        # the client may still be mid-handshake bookkeeping: certificate facts are final now
        result.certificate_sent = _certificate_sent(tls)
        return result, None
    finally:
        if udp is not None:
            try:
                proto._quic.close(error_code=0x100)  # H3_NO_ERROR, sent once; no draining wait
                proto.transmit()
            except Exception:  # noqa: BLE001 - best effort: the socket closes below anyway
                pass
            udp.close()
        sock.close()


@dataclass(frozen=True)
class QuicExchange:
    """One QUIC attempt's outcome, and the session it leaves for a resumption check."""

    outcome: Outcome
    ticket: Any = None  # the last aioquic SessionTicket the server issued (None: none)
    resumed: bool = False  # the offered ticket was accepted (a PSK handshake, no certificate exchanged)


def run_quic_probe(endpoint: Endpoint, files: tuple[Path, Path] | None, server_ca: Path | None,
                   transport: Transport, check_hostname: bool,
                   classify_response: Callable[[int, bytes, Evidence], Outcome]) -> Outcome:
    """One QUIC attempt (HTTP/3 ``GET``) under a hard deadline; never raises for anything the target does.

    ``classify_response`` is the TCP probe's (passed in: probe.py imports this module).
    """
    return quic_exchange(endpoint, files, server_ca, transport, check_hostname, classify_response).outcome


def quic_exchange(endpoint: Endpoint, files: tuple[Path, Path] | None, server_ca: Path | None,
                  transport: Transport, check_hostname: bool,
                  classify_response: Callable[[int, bytes, Evidence], Outcome], *,
                  session_ticket: Any = None) -> QuicExchange:
    """:func:`run_quic_probe`, offering ``session_ticket`` and keeping the ticket the server issues."""
    outcome, result = _exchange(endpoint, files, server_ca, transport, check_hostname, classify_response,
                                session_ticket)
    if result is None:
        return QuicExchange(outcome)
    return QuicExchange(outcome, result.tickets[-1] if result.tickets else None, result.resumed)


def _exchange(endpoint: Endpoint, files: tuple[Path, Path] | None, server_ca: Path | None, transport: Transport,
              check_hostname: bool, classify_response: Callable[[int, bytes, Evidence], Outcome],
              session_ticket: Any) -> tuple[Outcome, _Result | None]:

    host_header = transport.host_header or transport.server_name or endpoint.host
    base = Evidence(requested_version=QUIC, server_name=transport.server_name, host_header=host_header)
    started = time.monotonic()
    if transport.requests != 1:
        return Unreachable("QUIC probes send one request per connection", base), None
    try:
        config = _configuration(files, server_ca, transport.server_name, transport.timeout)
    except (OSError, ValueError, ssl.SSLError) as exc:
        return Unreachable(f"cannot load the client credential for QUIC: {exc}", base), None
    config.session_ticket = session_ticket
    deadline = transport.deadline
    check_name = transport.server_name if check_hostname else None
    result: _Result | None = None
    bad_cert: str | None = None
    loop = asyncio.new_event_loop()
    try:
        result, bad_cert = loop.run_until_complete(asyncio.wait_for(
            _attempt(endpoint, config, transport, host_header, server_ca, check_name), deadline))
    except TimeoutError:
        result = None
    except socket.gaierror as exc:
        return Unreachable(f"cannot resolve the host name ({exc})", replace(base, elapsed_ms=_ms(started))), None
    except OSError as exc:
        return Unreachable(f"QUIC: {type(exc).__name__}: {exc}", replace(base, elapsed_ms=_ms(started))), None
    finally:
        try:
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
    elapsed = _ms(started)
    if result is None:
        return Unreachable(f"no QUIC answer within {deadline:g}s (probe deadline): UDP {endpoint.port} is silent "
                           "or the target answers too slowly", replace(base, elapsed_ms=elapsed)), None
    return _outcome(result, bad_cert, evidence_base=base, elapsed=elapsed, endpoint=endpoint, transport=transport,
                    classify_response=classify_response), result


def _outcome(result: _Result, bad_cert: str | None, *, evidence_base: Evidence, elapsed: float, endpoint: Endpoint,
             transport: Transport, classify_response: Callable[[int, bytes, Evidence], Outcome]) -> Outcome:
    """What the attempt amounted to, from what the protocol recorded."""
    base = evidence_base
    deadline = transport.deadline
    detail = [f"ALPN {result.alpn}"] if result.alpn else []
    if result.resumed:
        detail.append("session resumed")
    evidence = replace(base, elapsed_ms=elapsed, cipher=result.cipher,
                       tls_version="TLSv1.3 (QUIC)" if result.handshake_done else None,
                       certificate_sent=result.certificate_sent,
                       detail="; ".join(detail))
    phase = "after-handshake" if result.handshake_done else "handshake"
    if bad_cert is not None:
        return Unreachable(f"the server certificate did not verify: {bad_cert}", evidence)
    if result.icmp is not None:
        return Unreachable(f"nothing answers QUIC on UDP {endpoint.port} ({result.icmp.strerror or result.icmp})",
                           evidence, transient=not result.handshake_done)
    if result.status is not None and (result.ended or result.close is None):
        return classify_response(result.status, bytes(result.body), evidence)
    if result.close is None and result.gave_up is not None:
        if "idle timeout" in result.gave_up.lower():
            return Unreachable(f"no QUIC answer within {transport.timeout:g}s (idle timeout, {phase}): UDP "
                               f"{endpoint.port} is silent or the target answers too slowly", evidence)
        return Unreachable(f"the QUIC client ended the connection ({result.gave_up}, {phase})", evidence)
    if result.close is not None:
        code, reason, application = result.close
        return classify_close(code, reason, evidence, phase=phase, application=application)
    return Unreachable(f"no HTTP/3 response within {deadline:g}s ({phase})", evidence)


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


__all__ = ["QUIC", "CRYPTO_ERROR_BASE", "ALERTS", "crypto_error_alert", "classify_close", "run_quic_probe",
           "quic_exchange", "QuicExchange"]

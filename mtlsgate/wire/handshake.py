"""What the server's handshake says about client authentication, seen from a bare client.

Python's ``ssl`` cannot tell whether the server sent a CertificateRequest, nor which CA
names it advertised. pyOpenSSL's info callback can: it reports the state machine's
"read server certificate request" step. That is how preflight tells a listener that does
not ask for certificates at all (nothing to test) from one that asks but lets clients
without one through (a failing check).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from .deadline import Deadline
from .probe import Endpoint, is_ip_address


@dataclass(frozen=True)
class HandshakeFacts:
    cert_requested: bool
    ca_names: tuple[str, ...]  # the CertificateRequest's CA names, as "O=...,CN=..."
    error: str = ""

    @property
    def names_known(self) -> bool:
        """Whether ``ca_names`` is what the server advertised: it sent its CertificateRequest, or
        finished the handshake without one. A handshake broken off before that proves nothing
        about the names (an empty tuple then is not "none advertised")."""
        return self.cert_requested or not self.error


def inspect_handshake(endpoint: Endpoint, server_name: str | None, tls_version: str, timeout: float) -> HandshakeFacts:
    """Handshake without a certificate and report whether one was requested."""
    from OpenSSL import SSL  # pyOpenSSL loads with the first preflight, not with the suite's options

    version = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}[tls_version]
    ctx = SSL.Context(SSL.TLS_CLIENT_METHOD)
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    ctx.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
    states: list[bytes] = []
    ctx.set_info_callback(lambda conn, where, ret: states.append(conn.get_state_string()))
    try:
        raw = socket.create_connection((endpoint.host, endpoint.port), timeout=timeout)
    except OSError as exc:
        return HandshakeFacts(False, (), f"connect: {exc}")
    deadline = Deadline(timeout * 2)  # per-recv timeouts do not bound a server that drips bytes
    try:
        deadline.__enter__()
        deadline.watch(raw)
        raw.settimeout(None)  # pyOpenSSL wants a blocking socket; the OS enforces the timeout
        tv = struct.pack("ll", int(timeout), int((timeout % 1) * 1e6))
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, tv)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, tv)
        conn = SSL.Connection(ctx, raw)
        conn.set_connect_state()
        if server_name and not is_ip_address(server_name):
            conn.set_tlsext_host_name(server_name.encode("idna"))
        error = ""
        try:
            _handshake(conn, deadline)
            if tls_version == "1.3":
                # Under TLS 1.3 the CertificateRequest arrives in the server's first flight,
                # so it has been seen by now; nudge the connection once for a late alert.
                conn.send(b"")
        except (SSL.Error, OSError) as exc:
            error = str(exc) or type(exc).__name__
            if deadline.expired or isinstance(exc, SSL.WantReadError | SSL.WantWriteError):
                error = f"the handshake did not finish within {deadline.seconds:g}s"
        requested = any(b"certificate request" in s for s in states)
        names = tuple(",".join(f"{k.decode()}={v.decode('utf-8', 'replace')}" for k, v in n.get_components())
                      for n in (conn.get_client_ca_list() or []))
        return HandshakeFacts(requested, names, error)
    finally:
        deadline.__exit__(None, None, None)
        raw.close()


#: How often one handshake may be woken without progress (EINTR) before it counts as stuck.
_MAX_WAKE_UPS = 100


def _handshake(conn: object, deadline: Deadline) -> None:
    """``conn.do_handshake()``, resumed when a signal interrupts its blocking read or write.

    With ``SO_RCVTIMEO`` set the kernel never restarts an interrupted ``recv``: it fails with
    EINTR, which OpenSSL reports as "want read". Any signal with a handler, a debugger or a
    profiler attaching to the process does that, and taking it for the server's silence made
    a correct listener "advertise no CA names". A real timeout ends the loop through the
    deadline (it shuts the socket down) or the wake-up bound.
    """
    from OpenSSL import SSL

    for _ in range(_MAX_WAKE_UPS):
        try:
            conn.do_handshake()  # type: ignore[attr-defined]
            return
        except (SSL.WantReadError, SSL.WantWriteError):
            if deadline.expired or deadline.remaining() <= 0:
                raise
    conn.do_handshake()  # type: ignore[attr-defined]


__all__ = ["HandshakeFacts", "inspect_handshake"]

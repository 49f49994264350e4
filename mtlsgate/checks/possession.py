"""reject.no-proof-of-possession: a valid certificate is not an identity without its private key (V21).

A client proves it holds the key by signing the handshake (CertificateVerify). A server
that skips or mis-checks that signature accepts anyone who has seen a certificate
(wolfSSL CVE-2022-25640). Python's ``ssl`` cannot send a wrong or missing CertificateVerify,
so these attempts use tlslite-ng, a pure-Python TLS stack, with its message sender wrapped:
one attempt signs with another key of the same type, one leaves the message out. An
attempt counts only if the forged handshake was actually sent; otherwise it is reported
as not possible, never as a pass. tlslite does not verify the server certificate here:
preflight did, and this client is the attacker.

A fleet run makes four forged handshakes per target, so their pure-Python cost is kept down
without changing what the server sees of the client's certificate or CertificateVerify:
parsed tlslite keys and chains are cached per process; the record protection (AES-GCM,
ChaCha20-Poly1305, the algorithms the server picks from tlslite's unchanged offer), the
ECDHE key exchange over x25519 and the NIST curves, and ECDSA signature checks run in
OpenSSL through ``cryptography``; and the socket sends without Nagle's delay. The
certificate is always sent uncompressed (see ``forged_handshake``).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import socket
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ..judge import FAIL, INCONCLUSIVE, PASS, SKIP, Verdict, judge, observe
from ..pki import Credential, key_pem, pem
from ..wire import MAX_BODY, Evidence, Outcome, RejectedEOF, RejectedTLS, Unreachable, classify_response, is_ip_address
from .finding import Attempt, CheckContext, Finding, combine

_VERSIONS = {"1.2": (3, 3), "1.3": (3, 4)}
WRONG_KEY_SLOT = 97  # a pool key no certificate of the suite uses


def load_tlslite() -> Any:
    """tlslite-ng, imported on first use (its package import pulls in the deprecated asyncore)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import tlslite.api
    return tlslite


class _Parsed:
    """A bounded, thread-safe LRU of parsed tlslite objects (keys, chains), keyed by a digest of their PEM.

    Parsing a PEM key in tlslite costs about a millisecond (pure-Python ASN.1, and the public
    point recomputed from the secret), and the same few keys and chains are parsed for every
    target and TLS version. The objects are only read once parsed (tlslite's RSA key locks its
    own blinding state), so threads may share them.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, bytes], Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, kind: str, text: bytes, parse: Callable[[str], Any]) -> Any:
        key = (kind, hashlib.sha256(text).digest())
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        made = parse(text.decode())  # outside the lock: a slow parse does not hold up the other threads
        with self._lock:
            self._items[key] = made
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return made


#: One per process: a fleet run's targets share the suite's keys; 64 covers every chain of a target
#: and the next few, so a run target by target re-parses nothing.
_PARSED = _Parsed(64)


def _parse_key(text: str) -> Any:
    load_tlslite()
    from tlslite.api import parsePEMKey

    return _native_ecdsa_verify(parsePEMKey(text, private=True))


#: python-ecdsa's curve names (what tlslite's ECDSA keys hold) -> OpenSSL's.
_EC_CURVES = {"NIST256p": ec.SECP256R1(), "NIST384p": ec.SECP384R1(), "NIST521p": ec.SECP521R1()}
#: ECDSA signs a digest's bytes whatever hash made them; Prehashed only checks the length.
_DIGEST_SIZES = {h.digest_size: h for h in (hashes.SHA1(), hashes.SHA224(), hashes.SHA256(), hashes.SHA384(),
                                            hashes.SHA512())}


def _native_ecdsa_verify(key: Any) -> Any:
    """Have a tlslite ECDSA key verify signatures in OpenSSL; returns the key.

    A forged handshake verifies two ECDSA signatures in pure Python: the server's
    (CertificateVerify or ServerKeyExchange) and its own CertificateVerify, which tlslite
    checks before sending (~0.8 ms each). The verdict is the same from OpenSSL: ECDSA over
    the same digest bytes and public point. Other key types and curves keep tlslite's own.
    """
    public = getattr(key, "public_key", None)
    curve = _EC_CURVES.get(getattr(getattr(public, "curve", None), "name", ""))
    if getattr(key, "key_type", None) != "ecdsa" or curve is None:
        return key
    point = public.pubkey.point
    native = ec.EllipticCurvePublicNumbers(int(point.x()), int(point.y()), curve).public_key()
    pure = key._verify

    def verify(signature: bytearray, hash_bytes: bytearray) -> bool:
        digest = bytes(hash_bytes)
        algorithm = _DIGEST_SIZES.get(len(digest))
        if algorithm is None:
            return bool(pure(signature, hash_bytes))
        try:
            native.verify(bytes(signature), digest, ec.ECDSA(Prehashed(algorithm)))
        except (InvalidSignature, ValueError):
            return False
        return True

    key._verify = verify
    return key


def _parse_chain(text: str) -> Any:
    load_tlslite()
    from tlslite.api import X509CertChain

    chain = X509CertChain()
    chain.parsePemList(text)
    return chain


class _NativeAEAD:
    """tlslite's AEAD interface (seal/open) over OpenSSL's AES-GCM or ChaCha20-Poly1305 via ``cryptography``.

    The same algorithm with the same key, nonce and additional data as tlslite's pure-Python
    classes, so the records on the wire are byte for byte the same; only ~20x cheaper.
    """

    isBlockCipher = False
    isAEAD = True
    nonceLength = 12
    tagLength = 16
    implementation = "openssl"

    def __init__(self, name: str, aead: AESGCM | ChaCha20Poly1305) -> None:
        self.name = name
        self._aead = aead

    def seal(self, nonce: bytearray, plaintext: bytearray, data: bytearray) -> bytearray:
        if len(nonce) != 12:
            raise ValueError("bad nonce size")
        return bytearray(self._aead.encrypt(bytes(nonce), bytes(plaintext), bytes(data)))

    def open(self, nonce: bytearray, ciphertext: bytearray, data: bytearray) -> bytearray | None:
        if len(nonce) != 12:
            raise ValueError("bad nonce size")
        try:
            return bytearray(self._aead.decrypt(bytes(nonce), bytes(ciphertext), bytes(data)))
        except InvalidTag:
            return None  # what tlslite's own classes return: the record layer raises bad_record_mac


def _native_aesgcm(key: bytearray, implementations: Any = None) -> _NativeAEAD:
    return _NativeAEAD({16: "aes128gcm", 32: "aes256gcm"}[len(key)], AESGCM(bytes(key)))


def _native_chacha20(key: bytearray, implementations: Any = None) -> _NativeAEAD:
    return _NativeAEAD("chacha20-poly1305", ChaCha20Poly1305(bytes(key)))


def _native_records(record_layer: Any) -> None:
    """Make one connection's record layer seal and open AES-GCM / ChaCha20-Poly1305 records in OpenSSL.

    Only this connection's record layer is changed (its ``_getCipherSettings``); any other
    cipher (CBC, CCM, the ChaCha draft) keeps tlslite's own implementation. Should tlslite
    change that private method, the connection simply stays pure Python.
    """
    from tlslite import recordlayer
    from tlslite.constants import CipherSuite

    original = getattr(record_layer, "_getCipherSettings", None)
    if original is None or not hasattr(recordlayer, "createAESGCM") or not hasattr(recordlayer, "createCHACHA20"):
        return

    def settings(cipher_suite: int) -> tuple[Any, ...]:
        key_length, iv_length, create, *rest = original(cipher_suite)
        if create is recordlayer.createAESGCM and key_length in (16, 32):
            create = _native_aesgcm
        elif create is recordlayer.createCHACHA20 and cipher_suite in CipherSuite.chacha20Suites:
            create = _native_chacha20
        return (key_length, iv_length, create, *rest)

    record_layer._getCipherSettings = settings


#: tlslite group names -> OpenSSL's curve (x25519 is handled apart: raw 32-byte shares).
_ECDH_CURVES = {"secp256r1": ec.SECP256R1(), "secp384r1": ec.SECP384R1(), "secp521r1": ec.SECP521R1()}


def _native_kex_classes() -> tuple[Any, Any]:
    """tlslite's ECDH (TLS 1.3 key shares) and client ECDHE (TLS 1.2) with the curve arithmetic in OpenSSL.

    In pure Python an x25519 exchange costs ~5 ms and a P-256 one ~2 ms, a tenth of a fleet's
    forged handshakes. The shares on the wire and the shared secret are the same values:
    X25519 and ECDH over the same private scalar, the peer's share checked as tlslite checks
    it (length, point format, on the curve, not all-zero). Other groups keep tlslite's code.
    """
    from tlslite.constants import ECPointFormat, GroupName
    from tlslite.errors import TLSDecodeError, TLSIllegalParameterException
    from tlslite.keyexchange import ECDHE_RSAKeyExchange, ECDHKeyExchange

    class NativeECDH(ECDHKeyExchange):  # type: ignore[misc]
        def _native(self) -> str | None:
            name = GroupName.toRepr(self.group)
            return name if name == "x25519" or name in _ECDH_CURVES else None

        def get_random_private_key(self) -> Any:
            name = self._native()
            if name is None:
                return super().get_random_private_key()
            return x25519.X25519PrivateKey.generate() if name == "x25519" else ec.generate_private_key(_ECDH_CURVES[name])

        def calc_public_value(self, private: Any, point_format: str = "uncompressed") -> bytearray:
            if isinstance(private, x25519.X25519PrivateKey):
                return bytearray(private.public_key().public_bytes_raw())
            if isinstance(private, ec.EllipticCurvePrivateKey):
                encoding = (serialization.PublicFormat.CompressedPoint if point_format == "compressed"
                            else serialization.PublicFormat.UncompressedPoint)
                return bytearray(private.public_key().public_bytes(serialization.Encoding.X962, encoding))
            return super().calc_public_value(private, point_format)

        def calc_shared_key(self, private: Any, peer_share: bytearray,
                            valid_point_formats: Any = ("uncompressed",)) -> bytearray:
            if isinstance(private, x25519.X25519PrivateKey):
                if len(peer_share) != 32:
                    raise TLSIllegalParameterException("Invalid key share")
                try:
                    return bytearray(private.exchange(x25519.X25519PublicKey.from_public_bytes(bytes(peer_share))))
                except ValueError:  # an all-zero result: a low-order point
                    raise TLSIllegalParameterException("Invalid key share") from None
            if isinstance(private, ec.EllipticCurvePrivateKey):
                formats = set(valid_point_formats)
                if not formats:
                    raise TLSDecodeError("Empty point formats extension")
                kind = {4: "uncompressed", 2: "compressed", 3: "compressed"}.get(peer_share[0] if peer_share else -1)
                if kind not in formats:
                    raise TLSIllegalParameterException("Invalid ECC point")
                try:
                    peer = ec.EllipticCurvePublicKey.from_encoded_point(private.curve, bytes(peer_share))
                    return bytearray(private.exchange(ec.ECDH(), peer))
                except ValueError:
                    raise TLSIllegalParameterException("Invalid ECC point") from None
            return super().calc_shared_key(private, peer_share, valid_point_formats)

    class NativeECDHE(ECDHE_RSAKeyExchange):  # type: ignore[misc]
        def processServerKeyExchange(self, srvPublicKey: Any, serverKeyExchange: Any) -> bytearray:  # noqa: N802, N803
            """tlslite 0.8's, with :class:`NativeECDH` for the exchange."""
            from tlslite.constants import ECCurveType, ExtensionType

            if serverKeyExchange.curve_type != ECCurveType.named_curve \
                    or serverKeyExchange.named_curve not in self.acceptedCurves:
                raise TLSIllegalParameterException("Server picked curve we didn't advertise")
            if not serverKeyExchange.ecdh_Ys:
                raise TLSDecodeError("Empty server key share")
            kex = NativeECDH(serverKeyExchange.named_curve, self.serverHello.server_version)
            private = kex.get_random_private_key()
            supported = [ECPointFormat.uncompressed]
            ext_c = self.clientHello.getExtension(ExtensionType.ec_point_formats) if self.clientHello else None
            ext_s = self.serverHello.getExtension(ExtensionType.ec_point_formats) if self.clientHello else None
            if ext_c and ext_s:
                supported = [i for i in ext_c.formats if i in ext_s.formats]
                if not supported:
                    raise TLSIllegalParameterException("No common EC point format")
            names = ["uncompressed" if f == ECPointFormat.uncompressed else "compressed" for f in supported]
            self.ecdhYc = kex.calc_public_value(private, names[0])
            return kex.calc_shared_key(private, serverKeyExchange.ecdh_Ys, set(names))

    return NativeECDH, NativeECDHE


class _Socket(socket.socket):
    """The forging client's TCP socket: once the handshake is done, a write may fail quietly.

    Over TLS 1.3 the server judges the client's certificate after its own Finished; one that
    refuses it sends an alert and closes, and the request written meanwhile then fails
    (EPIPE, ECONNRESET) while the alert waits unread. tlslite forgets its keys when a write
    fails, so the alert would be lost and the refusal reported as a bare EOF, depending on
    timing. With the error swallowed, the read that follows finds the alert (or the close).
    """

    quiet_writes = False

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except (BrokenPipeError, ConnectionResetError):
            if not self.quiet_writes:
                raise
            return len(data)

    def sendall(self, data: Any, flags: int = 0) -> None:
        try:
            super().sendall(data, flags)
        except (BrokenPipeError, ConnectionResetError):
            if not self.quiet_writes:
                raise


@functools.cache
def _client_class() -> Any:
    """The forging client's class, made once per process (tlslite is imported on first use)."""
    load_tlslite()
    from tlslite.keyexchange import ECDHE_RSAKeyExchange as ecdhe_class
    from tlslite.keyexchange import ECDHKeyExchange as ecdh_class
    from tlslite.messages import Certificate, CertificateVerify
    from tlslite.tlsconnection import TLSConnection

    native_ecdh, native_ecdhe = _native_kex_classes()

    class ForgingConnection(TLSConnection):  # type: ignore[misc]
        """TLSConnection that can drop CertificateVerify and records what it sent."""

        drop_certificate_verify = False
        sent_certificate = False
        sent_bad_verify = False
        negotiated: tuple[int, int] | None = None  # kept: tlslite forgets the version once the server closes

        def __init__(self, sock: socket.socket) -> None:
            super().__init__(sock)
            _native_records(self._recordLayer)

        def _clientGetKeyFromChain(self, certificate: Any, settings: Any, tack_ext: Any = None) -> Iterator[Any]:  # noqa: N802
            """tlslite's, with the server's ECDSA key verifying in OpenSSL."""
            for result in super()._clientGetKeyFromChain(certificate, settings, tack_ext):
                if result not in (0, 1):
                    _native_ecdsa_verify(result[0])
                yield result

        @staticmethod
        def _getKEX(group: int, version: tuple[int, int]) -> Any:  # noqa: N802
            """tlslite's, with x25519 and the NIST curves in OpenSSL (TLS 1.3 key shares)."""
            kex = TLSConnection._getKEX(group, version)
            return native_ecdh(group, version) if type(kex) is ecdh_class else kex

        def _clientKeyExchange(self, settings: Any, cipherSuite: int, clientCertChain: Any,  # noqa: N802, N803
                               privateKey: Any, certificateType: Any, tackExt: Any, clientRandom: Any,  # noqa: N803
                               serverRandom: Any, keyExchange: Any) -> Iterator[Any]:  # noqa: N803
            """tlslite's; a TLS 1.2 ECDHE exchange computes in OpenSSL."""
            if type(keyExchange) is ecdhe_class:
                keyExchange.__class__ = native_ecdhe
            return super()._clientKeyExchange(settings, cipherSuite, clientCertChain, privateKey, certificateType,
                                              tackExt, clientRandom, serverRandom, keyExchange)

        def _sendMsg(self, msg: Any, randomizeFirstBlock: bool = True, update_hashes: bool = True) -> Iterator[Any]:
            if isinstance(msg, Certificate):
                self.sent_certificate = True
            if isinstance(msg, CertificateVerify):
                self.sent_bad_verify = True
                if self.drop_certificate_verify:
                    return iter(())
            return super()._sendMsg(msg, randomizeFirstBlock, update_hashes)

    return ForgingConnection


def forged_handshake(ctx: CheckContext, cred: Credential, signing_key: Any, drop_verify: bool) -> tuple[Outcome | None, str]:
    """One handshake presenting ``cred``'s chain with a forged CertificateVerify, then one request.

    Returns (outcome, note); outcome is None when the forged message could not be sent.
    """
    load_tlslite()
    from tlslite.api import HandshakeSettings
    from tlslite.constants import AlertDescription
    from tlslite.errors import TLSAbruptCloseError, TLSError, TLSLocalAlert, TLSRemoteAlert

    settings = HandshakeSettings()
    settings.minVersion = settings.maxVersion = _VERSIONS[ctx.tls_version]
    # The chain goes in a plain Certificate message. Over TLS 1.3 tlslite-ng 0.8 otherwise sends a
    # CompressedCertificate (RFC 8879) whenever its own ClientHello offered to receive one (it
    # reads the extension from the ClientHello, not from the server's CertificateRequest); a server
    # that never asked for it ends the handshake there (OpenSSL: unexpected_message, Go: EOF)
    # whatever the signature, also with the right key: a rejection that proves nothing.
    settings.certificate_compression_send = []
    chain = _PARSED.get("chain", pem(cred.cert, *cred.chain), _parse_chain)
    key = _PARSED.get("key", key_pem(signing_key), _parse_key)
    sni = ctx.target.server_name
    base = Evidence(requested_version=ctx.tls_version, server_name=sni, host_header=ctx.protected_name)
    started = time.monotonic()
    try:
        tcp = socket.create_connection((ctx.target.endpoint.host, ctx.target.endpoint.port), timeout=ctx.timeout)
    except OSError as exc:
        return Unreachable(f"connect: {exc}", base), ""
    raw = _Socket(tcp.family, tcp.type, tcp.proto, fileno=tcp.detach())
    raw.settimeout(ctx.timeout)
    # tlslite writes each handshake message with its own send(); with Nagle's algorithm the
    # TLS 1.3 flight (Certificate, CertificateVerify, Finished) waited ~40 ms on the server's
    # delayed ACK. The bytes are the same, they just leave at once.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = _client_class()(raw)
    conn.drop_certificate_verify = drop_verify
    phase = "handshake"
    data = b""
    try:
        try:
            conn.handshakeClientCert(chain, key, settings=settings,
                                     serverName=sni if sni and not is_ip_address(sni) else None)
            phase = "after-handshake"
            conn.negotiated = conn.version
            raw.quiet_writes = True
            request = (f"GET / HTTP/1.1\r\nHost: {ctx.protected_name}\r\nUser-Agent: mtlsgate\r\n"
                       "Connection: close\r\n\r\n").encode("latin-1")
            conn.write(request)
            deadline = started + ctx.timeout * 2
            while len(data) < MAX_BODY and time.monotonic() < deadline:
                chunk = conn.read(max=16384)
                if not chunk:
                    break
                data += bytes(chunk)
        except TLSRemoteAlert as exc:
            if not conn.sent_certificate:
                return None, f"the server refused the handshake before the certificate was sent (alert {exc})"
            name = AlertDescription.toStr(exc.description)
            return RejectedTLS(name, phase, _ev(base, conn, started)), ""
        except (TLSAbruptCloseError, ConnectionResetError, BrokenPipeError) as exc:
            if not conn.sent_certificate:
                return None, f"the connection closed before the certificate was sent ({exc})"
            if not data:  # a close after a complete answer is just the end of the response
                return RejectedEOF(phase, _ev(base, conn, started, str(exc))), ""
        except TLSLocalAlert as exc:
            return None, f"tlslite could not complete its side of the handshake: {exc}"
        except (TLSError, OSError, ValueError, AssertionError) as exc:
            if isinstance(exc, (TimeoutError, socket.timeout)):
                return Unreachable(f"no answer within {ctx.timeout:g}s ({phase})", _ev(base, conn, started)), ""
            return None, f"tlslite failed: {type(exc).__name__}: {exc}"
    finally:
        raw.close()
    if not conn.sent_certificate or not (conn.sent_bad_verify or drop_verify):
        return None, "the server did not ask for a certificate, so no forged handshake was sent"
    head, _, body = data.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split(b" ")
    if len(status_line) < 2 or not status_line[1].isdigit():
        return RejectedEOF(phase, _ev(base, conn, started, "no HTTP response")), ""
    return classify_response(int(status_line[1]), body, _ev(base, conn, started)), ""


def _ev(base: Evidence, conn: Any, started: float, detail: str = "") -> Evidence:
    version = {(3, 3): "TLSv1.2", (3, 4): "TLSv1.3"}.get(getattr(conn, "negotiated", None) or conn.version or (0, 0))
    return Evidence(tls_version=version, requested_version=base.requested_version, server_name=base.server_name,
                    host_header=base.host_header, elapsed_ms=round((time.monotonic() - started) * 1000, 2),
                    detail=("tlslite-ng client; " + detail).strip("; "))


def _wrong_key(ctx: CheckContext, cred: Credential) -> Any:
    """Another key of the certificate's own type, so the signature scheme still fits the certificate."""
    public = cred.cert.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        kind = f"rsa{public.key_size}"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        kind = {"secp256r1": "p256", "secp384r1": "p384"}.get(public.curve.name, "p256")
    else:
        kind = "p256"
    return ctx.materials.pool.get(kind, WRONG_KEY_SLOT)


def no_proof_of_possession(ctx: CheckContext) -> Finding:
    cred = ctx.valid
    if cred is None:
        return combine(ctx, [Attempt("forged CertificateVerify", SKIP, "needs a valid client identity")])
    if importlib.util.find_spec("tlslite") is None:
        return combine(ctx, [Attempt("forged CertificateVerify", SKIP, "needs tlslite-ng (pip install tlslite-ng)")])
    attempts = []
    for label, key, drop in (("valid certificate, CertificateVerify signed by another key", _wrong_key(ctx, cred), False),
                             ("valid certificate, no CertificateVerify at all", cred.key, True)):
        outcome, note = forged_handshake(ctx, cred, key, drop)
        if outcome is None:
            attempts.append(Attempt(label, SKIP, f"not tried: {note}"))
            continue
        verdict = judge(ctx.check_id, "reject", outcome, ctx.baseline_valid, ctx.profile)
        attempts.append(Attempt(label, PASS if verdict.status == PASS else FAIL, verdict.reason, outcome))
    found = combine(ctx, attempts)
    if found.verdict.status != PASS:
        return Finding(verdict=found.verdict, outcome=found.outcome, baseline=found.baseline, credential=cred,
                       attempts=found.attempts)
    # The control: the same tlslite client, signing with the certificate's own key. A refusal of the
    # forged handshakes only counts if this one gets in; else tlslite and the target disagree about
    # something else (tlslite-ng 0.8 once compressed every TLS 1.3 certificate, and every server
    # refused it) and the refusals prove nothing about CertificateVerify.
    control, note = forged_handshake(ctx, cred, cred.key, False)
    honest = observe(control, ctx.baseline_valid) if control is not None else None
    control_attempt = Attempt("control: valid certificate, CertificateVerify signed by its own key",
                              SKIP if honest is None else PASS,
                              f"not tried: {note}" if honest is None else f"(not judged) {honest.why}", control)
    verdict = found.verdict
    if honest is None or honest.result != "accepted":
        got = f"was not tried ({note})" if honest is None else f"got {honest.why}"
        verdict = Verdict(INCONCLUSIVE, verdict.expected, verdict.observed,
                          f"{verdict.reason}; but the control, the same client signing with the certificate's own key, "
                          f"{got}, so the refusals prove nothing about CertificateVerify")
    return Finding(verdict=verdict, outcome=found.outcome, baseline=found.baseline, credential=cred,
                   attempts=(*found.attempts, control_attempt))


__all__ = ["no_proof_of_possession", "forged_handshake", "load_tlslite", "WRONG_KEY_SLOT"]

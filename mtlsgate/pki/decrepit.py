"""SHA-1 and MD5 signatures: test material, never a real identity.

``cryptography`` refuses to sign certificates with these digests, and rightly. The suite
still needs such certificates — a listener must refuse them — so :func:`legacy_sign` makes
them itself: the builder signs as usual (SHA-256), its TBSCertificate is relabelled with the
legacy signature algorithm and signed again with the legacy digest, and the certificate is
put together in DER. The name says what this module holds, as ``cryptography.hazmat.decrepit``
does: whoever imports it knows.

(It used to re-sign through the ``openssl x509`` command line; at ~25 ms of CPU per process
that was two of a fleet target's largest costs. The certificates are the same: fields,
extensions, and the AuthorityKeyIdentifier ``openssl x509 -CA`` appended — ``tests/test_pki.py``
checks them against the openssl command line.)
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .keys import PrivateKey

#: Digests ``cryptography`` will not sign certificates with; :func:`legacy_sign` does.
LEGACY_HASHES = ("sha1", "md5")

#: DER AlgorithmIdentifiers (RFC 3279 §2.2): {sha1,md5}WithRSAEncryption with NULL parameters, ecdsa-with-SHA1.
_ALGORITHMS = {
    ("rsa", "sha1"): bytes.fromhex("300d06092a864886f70d0101050500"),
    ("rsa", "md5"): bytes.fromhex("300d06092a864886f70d0101040500"),
    ("ec", "sha1"): bytes.fromhex("300906072a8648ce3d0401"),
}
_HASHES = {"sha1": hashes.SHA1, "md5": hashes.MD5}


def legacy_sign(builder: x509.CertificateBuilder, signer_key: PrivateKey, digest: str) -> x509.Certificate:
    """``builder`` (issuer name, extensions and all) signed by ``signer_key`` with a legacy ``digest``."""
    if isinstance(signer_key, rsa.RSAPrivateKey):
        family = "rsa"
    elif isinstance(signer_key, ec.EllipticCurvePrivateKey):
        family = "ec"
    else:
        raise ValueError(f"{digest} signatures exist only for RSA and ECDSA issuers")
    algorithm = _ALGORITHMS.get((family, digest))
    if algorithm is None:
        raise ValueError(f"{digest.upper()} signatures exist only for RSA issuers" if digest == "md5"
                         else f"no legacy digest {digest!r} (known: {', '.join(LEGACY_HASHES)})")
    modern = builder.sign(signer_key, hashes.SHA256())  # type: ignore[arg-type]
    tbs = _relabel(modern.tbs_certificate_bytes, algorithm)
    if family == "rsa":
        signature = signer_key.sign(tbs, padding.PKCS1v15(), _HASHES[digest]())  # type: ignore[union-attr]
    else:
        signature = signer_key.sign(tbs, ec.ECDSA(_HASHES[digest]()))  # type: ignore[call-arg,union-attr]
    return x509.load_der_x509_certificate(_tlv(0x30, tbs + algorithm + _tlv(0x03, b"\x00" + signature)))


def _relabel(tbs: bytes, algorithm: bytes) -> bytes:
    """The TBSCertificate with its ``signature`` AlgorithmIdentifier (the first SEQUENCE inside) replaced."""
    start, end = _value(tbs, 0)
    pos = start
    while pos < end:
        value_start, value_end = _value(tbs, pos)
        if tbs[pos] == 0x30:  # [0] version and the serial INTEGER come first; then this SEQUENCE
            return _tlv(0x30, tbs[start:pos] + algorithm + tbs[value_end:end])
        pos = value_end
    raise ValueError("not a TBSCertificate: no signature AlgorithmIdentifier")


def _value(der: bytes, pos: int) -> tuple[int, int]:
    """(start, end) of the value of the DER element whose tag is at ``pos`` (definite lengths only)."""
    length = der[pos + 1]
    if length < 0x80:
        return pos + 2, pos + 2 + length
    count = length & 0x7F
    start = pos + 2 + count
    return start, start + int.from_bytes(der[pos + 2:start], "big")


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes((tag, n)) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + value


__all__ = ["LEGACY_HASHES", "legacy_sign"]

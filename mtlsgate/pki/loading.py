"""Reading the user's certificate and key files, with one clear line when they are wrong."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import UsageError
from .certs import Credential
from .keys import PrivateKey, _rsa_key_signs


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: no such file") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot read ({exc.strerror})") from None


def load_certificates(path: Path, what: str = "certificate file") -> list[x509.Certificate]:
    """Every certificate in a PEM bundle, or the one DER certificate in the file."""
    data = read_file(path, what)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UsageError(f"{what} {path}: not a PEM or DER certificate") from None
    if not certs:
        raise UsageError(f"{what} {path}: holds no certificate")
    return certs


def load_private_key(path: Path, what: str = "key file") -> PrivateKey:
    """The key in ``path``; an RSA key must make a signature its own public key verifies.

    OpenSSL's full RSA key check (primality of p and q) costs ~36 ms per RSA-2048 key, and a
    fleet run loads several keys per target; one signature (~1 ms) catches the same broken
    files that matter here: a key whose private half does not belong to its public half.
    """
    data = read_file(path, what)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
        else:
            key = serialization.load_der_private_key(data, password=None, unsafe_skip_rsa_key_validation=True)
    except TypeError:
        raise UsageError(f"{what} {path}: the key is encrypted; give an unencrypted copy (0600)") from None
    except ValueError:
        raise UsageError(f"{what} {path}: not a PEM or DER private key") from None
    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
        raise UsageError(f"{what} {path}: unsupported key type {type(key).__name__}")
    if isinstance(key, rsa.RSAPrivateKey) and not _rsa_key_signs(key):
        raise UsageError(f"{what} {path}: a broken RSA key (its signatures do not verify with its public key)")
    return key



def _public_der(key: object) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)  # type: ignore[attr-defined]


def load_credential(cert_path: Path, key_path: Path, what: str) -> Credential:
    """A credential from a certificate (leaf first, then its chain) and the matching key."""
    certs = load_certificates(cert_path, f"{what} certificate")
    key = load_private_key(key_path, f"{what} key")
    if _public_der(key.public_key()) != _public_der(certs[0].public_key()):
        raise UsageError(f"{what} key {key_path} does not match the certificate {cert_path}")
    chain = tuple(certs[1:])
    root = certs[0] if len(certs) == 1 and certs[0].issuer == certs[0].subject else None
    return Credential(key=key, cert=certs[0], chain=chain, root=root)


def load_ca_credential(cert_path: Path, key_path: Path, what: str = "client CA") -> Credential:
    """The client CA from ``--client-ca-cert``, which may be the LB's whole trust bundle.

    The CA that mints is the certificate matching the key, on its own: the other
    certificates of the bundle only say what the LB is configured to trust (trust.ca-names).
    """
    certs = load_certificates(cert_path, f"{what} certificate")
    key = load_private_key(key_path, f"{what} key")
    match = next((c for c in certs if _public_der(c.public_key()) == _public_der(key.public_key())), None)
    if match is None:
        raise UsageError(f"{what} key {key_path} matches no certificate in {cert_path}")
    return Credential(key=key, cert=match, chain=(), root=match if match.issuer == match.subject else None)


__all__ = ["read_file", "load_certificates", "load_private_key", "load_credential", "load_ca_credential"]

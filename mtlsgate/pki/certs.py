"""Certificate specs in, credentials out.

A :class:`CertSpec` says everything that makes a certificate right or wrong for client
authentication; :func:`issue` turns it into a :class:`Credential` (key, leaf, the chain a
client sends). Validity is relative to *now*, so a spec means the same thing on every run.
``cryptography`` refuses to sign with SHA-1 or MD5; :mod:`mtlsgate.pki.decrepit` signs those.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .decrepit import LEGACY_HASHES, legacy_sign
from .keys import KeyPool, PrivateKey, derive_serial, key_pem, write_private

HASHES = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

NAME_ATTRIBUTES = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "emailAddress": NameOID.EMAIL_ADDRESS,
    "serialNumber": NameOID.SERIAL_NUMBER,
}

EKUS = {
    "clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
    "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
    "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
    "codeSigning": ExtendedKeyUsageOID.CODE_SIGNING,
    "anyExtendedKeyUsage": ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
}

KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)

#: An OID under the "example" arc (2.999) that no verifier can know.
UNKNOWN_EXTENSION_OID = "2.999.1.7"


@dataclass(frozen=True)
class Extension:
    """An extension given as raw DER, for what ``cryptography`` has no type for."""

    oid: str
    value: bytes
    critical: bool = False


@dataclass(frozen=True)
class NameConstraintsSpec:
    """A nameConstraints extension (for CA certificates): ``dns:``/``email:``/``ip:``/``uri:`` subtrees."""

    permitted: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    critical: bool = True


@dataclass(frozen=True)
class CertSpec:
    """What a certificate must look like; every field is one knob a verifier may check."""

    subject: tuple[tuple[str, str], ...] = (("CN", "mtlsgate client"),)
    key: str = "p256"
    key_slot: int = 0
    hash: str = "sha256"
    not_before: dt.timedelta = dt.timedelta(hours=-1)
    not_after: dt.timedelta = dt.timedelta(days=30)
    ca: bool | None = False
    path_length: int | None = None
    bc_critical: bool = True
    key_usage: frozenset[str] | None = frozenset({"digital_signature"})
    ku_critical: bool = True
    eku: tuple[str, ...] | None = ("clientAuth",)
    eku_critical: bool = False
    san: tuple[str, ...] = ()
    san_critical: bool = False
    extensions: tuple[Extension, ...] = ()
    serial: int | None = None
    subject_key_id: bool = True
    authority_key_id: bool = True
    subject_name: x509.Name | None = None  # overrides ``subject``: copies a name byte for byte
    name_constraints: NameConstraintsSpec | None = None

    @classmethod
    def ca_spec(cls, cn: str, *, key: str = "p256", key_slot: int = 0, path_length: int | None = None,
                **changes: object) -> CertSpec:
        """The usual shape of a CA certificate (critical CA:TRUE, keyCertSign, no EKU)."""
        base = cls(
            subject=(("O", "mtlsgate"), ("CN", cn)),
            key=key,
            key_slot=key_slot,
            not_after=dt.timedelta(days=365),
            ca=True,
            path_length=path_length,
            key_usage=frozenset({"digital_signature", "key_cert_sign", "crl_sign"}),
            eku=None,
        )
        return base.replace(**changes) if changes else base

    def replace(self, **changes: object) -> CertSpec:
        from dataclasses import replace

        return replace(self, **changes)  # type: ignore[arg-type]

    def name(self) -> x509.Name:
        return self.subject_name if self.subject_name is not None else build_name(self.subject)


def build_name(attributes: Iterable[tuple[str, str]]) -> x509.Name:
    """An ``x509.Name`` from ``(short name or dotted OID, value)`` pairs, in order."""
    rdns = []
    for attr, value in attributes:
        oid = NAME_ATTRIBUTES.get(attr) or x509.ObjectIdentifier(attr)
        rdns.append(x509.NameAttribute(oid, value))
    return x509.Name(rdns)


@dataclass(frozen=True, eq=False)
class Credential:
    """A key, its certificate and the chain a client sends (issuers up to, not including, the root)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()
    root: x509.Certificate | None = None
    spec: CertSpec | None = None  # None for credentials loaded from the user's files

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def key_pem(self) -> bytes:
        return key_pem(self.key)

    @property
    def chain_pem(self) -> bytes:
        """Leaf first, then the intermediates: what ``load_cert_chain`` and LBs expect."""
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (self.cert, *self.chain))

    def pkcs12(self, password: bytes | None, *, name: bytes = b"mtlsgate") -> bytes:
        """PKCS#12 bundle (AES-256 and PBKDF2 when a password is given)."""
        enc: serialization.KeySerializationEncryption
        if password:
            enc = (
                serialization.PrivateFormat.PKCS12.encryption_builder()
                .kdf_rounds(50000)
                .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
                .hmac_hash(hashes.SHA256())
                .build(password)
            )
        else:
            enc = serialization.NoEncryption()
        return pkcs12.serialize_key_and_certificates(name, self.key, self.cert, list(self.chain) or None, enc)

    def write(self, directory: Path, stem: str) -> CredentialFiles:
        """Write ``stem.crt`` (leaf + chain) and ``stem.key`` (0600) into ``directory``."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        cert_path = directory / f"{stem}.crt"
        key_path = directory / f"{stem}.key"
        cert_path.write_bytes(self.chain_pem)
        write_private(key_path, self.key_pem)
        return CredentialFiles(cert_path, key_path)


@dataclass(frozen=True)
class CredentialFiles:
    cert: Path
    key: Path


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _general_name(entry: str) -> x509.GeneralName:
    kind, _, value = entry.partition(":")
    kind = kind.lower()
    if kind == "dns":
        return x509.DNSName(value)
    if kind == "ip":
        return x509.IPAddress(ipaddress.ip_address(value))
    if kind == "email":
        return x509.RFC822Name(value)
    if kind == "uri":
        return x509.UniformResourceIdentifier(value)
    raise ValueError(f"SAN entry {entry!r}: expected dns:, ip:, email: or uri:")


def _subtree(entry: str) -> x509.GeneralName:
    """Like a SAN entry, except that an ``email:`` subtree may be a bare host or ``.domain``."""
    kind, _, value = entry.partition(":")
    if kind.lower() == "email":
        return x509.RFC822Name(value)
    if kind.lower() == "ip":
        return x509.IPAddress(ipaddress.ip_network(value))
    return _general_name(entry)


def _signing_hash(issuer_key: PrivateKey, name: str) -> hashes.HashAlgorithm | None:
    if isinstance(issuer_key, ed25519.Ed25519PrivateKey):
        return None
    return HASHES[name]()


def issue(spec: CertSpec, issuer: Credential | None = None, *, pool: KeyPool,
          key: PrivateKey | None = None) -> Credential:
    """Mint ``spec`` under ``issuer`` (self-signed when ``issuer`` is None).

    The returned chain holds the issuer's own chain plus the issuer, minus the root, so
    ``chain_pem`` is exactly what a client sends to be verified.
    """
    key = key if key is not None else pool.get(spec.key, spec.key_slot)
    signer_key = issuer.key if issuer else key
    issuer_name = issuer.cert.subject if issuer else spec.name()
    now = _now()
    serial = spec.serial if spec.serial is not None else secrets.randbits(126) + 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.name())
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now + spec.not_before)
        .not_valid_after(now + spec.not_after)
    )
    if spec.ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length if spec.ca else None),
            critical=spec.bc_critical,
        )
    if spec.key_usage is not None:
        flags = {name: name in spec.key_usage for name in KEY_USAGES}
        if not flags["key_agreement"]:
            flags["encipher_only"] = flags["decipher_only"] = False
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=spec.ku_critical)
    if spec.eku is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([EKUS.get(e) or x509.ObjectIdentifier(e) for e in spec.eku]),
            critical=spec.eku_critical,
        )
    if spec.san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(e) for e in spec.san]), critical=spec.san_critical
        )
    if spec.subject_key_id:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    legacy = spec.hash in LEGACY_HASHES and not isinstance(signer_key, ed25519.Ed25519PrivateKey)
    if spec.authority_key_id and issuer is not None and not legacy:  # a legacy one gets openssl's, below
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    if spec.name_constraints is not None:
        nc = spec.name_constraints
        builder = builder.add_extension(x509.NameConstraints(
            permitted_subtrees=[_subtree(e) for e in nc.permitted] or None,
            excluded_subtrees=[_subtree(e) for e in nc.excluded] or None), critical=nc.critical)
    for ext in spec.extensions:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(ext.oid), ext.value), critical=ext.critical
        )
    if legacy:
        if issuer is not None:  # what ``openssl x509 -CA`` appended when it re-signed these: the issuer's key id
            builder = builder.add_extension(_openssl_authority_key_id(issuer), critical=False)
        cert = legacy_sign(builder.issuer_name(issuer_name), signer_key, spec.hash)
    else:
        cert = builder.issuer_name(issuer_name).sign(signer_key, _signing_hash(signer_key, spec.hash))  # type: ignore[arg-type]
    if issuer is None:
        return Credential(spec=spec, key=key, cert=cert, chain=(), root=cert if spec.ca else None)
    root = issuer.root or issuer.cert
    chain = tuple(c for c in (issuer.cert, *issuer.chain) if c is not root)
    return Credential(spec=spec, key=key, cert=cert, chain=chain, root=root)


def _openssl_authority_key_id(issuer: Credential) -> x509.AuthorityKeyIdentifier:
    """The issuer's subjectKeyIdentifier as key id (else the SHA-1 of its key), no issuer name or serial."""
    try:
        ski = issuer.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())  # type: ignore[arg-type]


def issue_derived(spec: CertSpec, issuer: Credential | None = None, *, root: Credential, pool: KeyPool) -> Credential:
    """Like :func:`issue`, but the key and serial are derived from ``root``'s key and the subject.

    For the CAs the suite mints under a client CA: the same name, serial and key on every
    machine and run, so CRLs made for them once (``mtlsgate crls``) hold everywhere. Only
    name and key matter to a CRL; the serial is fixed too so the certificates read the same.
    """
    label = f"{spec.key}|{spec.name().rfc4514_string()}"
    key = pool.derived(root.key, label, spec.key)
    return issue(spec.replace(serial=derive_serial(root.key, label)), issuer, pool=pool, key=key)


def make_crl(issuer: Credential, revoked_serials: Sequence[int] = (), *, last_update: dt.timedelta = dt.timedelta(hours=-1),
             next_update: dt.timedelta = dt.timedelta(days=7), number: int = 1) -> x509.CertificateRevocationList:
    """A CRL signed by ``issuer``; dates relative to now (a past ``next_update`` makes it stale)."""
    now = _now()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.cert.subject)
        .last_update(now + last_update)
        .next_update(now + next_update)
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),  # type: ignore[arg-type]
                       critical=False)
    )
    for serial in revoked_serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now + last_update).build()
        )
    algorithm = None if isinstance(issuer.key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer.key, algorithm)  # type: ignore[arg-type]


def pem(*objs: x509.Certificate | x509.CertificateRevocationList) -> bytes:
    """Concatenated PEM of certificates and CRLs."""
    return b"".join(o.public_bytes(serialization.Encoding.PEM) for o in objs)


def unknown_critical_extension() -> Extension:
    """A critical extension no verifier knows (its value: a DER NULL)."""
    return Extension(UNKNOWN_EXTENSION_OID, b"\x05\x00", critical=True)


def signature_hash_name(cert: x509.Certificate) -> str | None:
    """``sha1``/``md5``/``sha256``... from the certificate's signature OID (None for EdDSA)."""
    oid_name = cert.signature_algorithm_oid._name.lower()  # e.g. "sha1WithRSAEncryption", "ecdsa-with-SHA256"
    for candidate in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
        if candidate in oid_name.replace("-", ""):
            return candidate
    return None


def key_description(key: PrivateKey | object) -> str:
    """``rsa2048``, ``p256``... for a private or public key."""
    pub = key.public_key() if hasattr(key, "public_key") else key
    if isinstance(pub, rsa.RSAPublicKey):
        return f"rsa{pub.key_size}"
    if isinstance(pub, ec.EllipticCurvePublicKey):
        return {"secp256r1": "p256", "secp384r1": "p384", "secp521r1": "p521"}.get(pub.curve.name, pub.curve.name)
    if isinstance(pub, ed25519.Ed25519PublicKey):
        return "ed25519"
    return type(pub).__name__


__all__ = ["CertSpec", "Credential", "CredentialFiles", "Extension", "NameConstraintsSpec", "issue", "issue_derived", "make_crl", "pem", "unknown_critical_extension", "signature_hash_name", "key_description", "build_name", "HASHES", "NAME_ATTRIBUTES", "EKUS", "KEY_USAGES", "UNKNOWN_EXTENSION_OID"]

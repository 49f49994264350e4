"""What the suite may know about a target, and the PKI it makes for targets it runs itself."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..pki import CertSpec, Credential, KeyPool, issue, make_crl, pem, write_private
from ..wire import Endpoint
from .crls import suite_crls

if TYPE_CHECKING:
    import trustme

#: The names the suite's own targets answer to; ``.test`` is reserved (RFC 6761).
LAB_SERVER_NAME = "mtlsgate.test"
LAB_ALT_SERVER_NAME = "open.mtlsgate.test"


@dataclass(frozen=True, eq=False)
class Target:
    """An endpoint plus the trust material the user (or the suite) holds for it.

    What is ``None`` decides which checks can run: without ``client_ca`` (CA with key) the
    suite cannot mint variants and runs only the checks that a ready ``identity`` allows.
    """

    name: str  # "reference", "local:nginx", or the URL
    kind: str  # "reference" | "local" | "external"
    endpoint: Endpoint
    server_name: str | None
    server_ca: Path | None = None  # None: the system trust store
    client_ca: Credential | None = None  # the CA the LB trusts, with its key
    client_ca_certs: tuple[x509.Certificate, ...] = ()  # every CA certificate the LB is configured to trust
    identity: Credential | None = None  # a ready valid client identity
    revoked: Credential | None = None  # an identity the target's CRL revokes
    server_ca_key: Credential | None = None  # the CA that issued the server certificate, with key
    alt_server_name: str | None = None
    echo_backend: bool = False
    profile: str = "default"  # the profile used when the user names none ("auto": recognise the product)
    #: Identity headers the target is known to set (a local template's variants.toml,
    #: --identity-header): name -> judge.IDENTITY_KINDS; the header checks also find them.
    identity_headers: Mapping[str, str] = field(default_factory=dict)
    product: str | None = None  # the product, where the suite knows it (a local target's LB)
    log_path: Path | None = None
    description: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def can_mint(self) -> bool:
        return self.client_ca is not None


@dataclass(frozen=True, eq=False)
class LabPKI:
    """Server and client PKI for a target the suite provisions (reference, local LBs).

    The server side uses trustme's fixed profile; the client side is built from specs so
    that the intermediate, the revoked identity and the CRLs are exactly what checks need.
    """

    server_ca: trustme.CA
    server_ca_credential: Credential
    server_cert_pem: bytes  # leaf + chain
    server_key_pem: bytes
    client_root: Credential
    client_intermediate: Credential
    identity: Credential
    revoked: Credential
    crls: tuple[x509.CertificateRevocationList, ...]  # the client CA's own, then the suite bundle if loaded
    rogue_root: Credential  # another CA, for "trust store too broad" mutants

    @classmethod
    def create(cls, pool: KeyPool, server_name: str = LAB_SERVER_NAME,
               alt_server_name: str = LAB_ALT_SERVER_NAME, *, load_suite_crls: bool = True) -> LabPKI:
        """The lab PKI; ``load_suite_crls``: the CRL file also holds the ``mtlsgate crls`` bundle.

        Loading that bundle is the documented operator step; the ``no-suite-crls`` variants
        leave it out, as an operator who skipped it would.
        """
        import trustme

        server_ca = trustme.CA(key_type=trustme.KeyType.ECDSA, organization_name="mtlsgate lab server CA")
        server_leaf = server_ca.issue_cert(server_name, alt_server_name, "localhost", "127.0.0.1", "::1")
        key = serialization.load_pem_private_key(server_ca.private_key_pem.bytes(), password=None)
        ca_cert = x509.load_pem_x509_certificate(server_ca.cert_pem.bytes())
        server_ca_credential = Credential(key=key, cert=ca_cert, root=ca_cert)  # type: ignore[arg-type]
        # An RSA root: SHA-1 and MD5 leaves can then be signed by the root itself.
        root = issue(CertSpec.ca_spec("mtlsgate lab client root CA", key="rsa2048", key_slot=1), pool=pool)
        intermediate = issue(CertSpec.ca_spec("mtlsgate lab client intermediate CA", key_slot=1, path_length=0),
                             root, pool=pool)
        identity = issue(CertSpec(subject=(("O", "mtlsgate"), ("CN", "lab client")), key_slot=10,
                                  san=("email:client@mtlsgate.test",)), intermediate, pool=pool)
        revoked = issue(CertSpec(subject=(("O", "mtlsgate"), ("CN", "lab revoked client")), key_slot=11),
                        intermediate, pool=pool)
        crls = (make_crl(root, []), make_crl(intermediate, [revoked.cert.serial_number]))
        if load_suite_crls:  # what an operator appends once: `mtlsgate crls` for this client CA
            crls += suite_crls(root, pool).crls
        rogue = issue(CertSpec.ca_spec("mtlsgate lab rogue CA", key_slot=2, not_after=dt.timedelta(days=365)),
                      pool=pool)
        return cls(
            server_ca=server_ca,
            server_ca_credential=server_ca_credential,
            server_cert_pem=b"".join(b.bytes() for b in server_leaf.cert_chain_pems),
            server_key_pem=server_leaf.private_key_pem.bytes(),
            client_root=root,
            client_intermediate=intermediate,
            identity=identity,
            revoked=revoked,
            crls=crls,
            rogue_root=rogue,
        )

    def write(self, directory: Path) -> LabFiles:
        """Everything an LB config points at, as files (keys 0600 in a 0700 directory)."""
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        files = LabFiles(
            server_cert=directory / "server.crt",
            server_key=directory / "server.key",
            server_chain=directory / "server-chain.crt",
            server_pem=directory / "server.pem",
            server_ca=directory / "server-ca.crt",
            client_ca=directory / "client-ca.crt",
            crl=directory / "client-ca.crl",
            extra_ca=directory / "rogue-ca.crt",
        )
        leaf_only = self.server_cert_pem.split(b"-----END CERTIFICATE-----", 1)[0] + b"-----END CERTIFICATE-----\n"
        files.server_cert.write_bytes(leaf_only)
        write_private(files.server_key, self.server_key_pem)
        files.server_chain.write_bytes(self.server_cert_pem)
        write_private(files.server_pem, self.server_cert_pem + self.server_key_pem)
        files.server_ca.write_bytes(self.server_ca.cert_pem.bytes())
        files.client_ca.write_bytes(pem(self.client_root.cert, self.client_intermediate.cert))
        files.crl.write_bytes(pem(*self.crls))
        files.extra_ca.write_bytes(pem(self.rogue_root.cert))
        return files


@dataclass(frozen=True)
class LabFiles:
    server_cert: Path
    server_key: Path
    server_chain: Path
    server_pem: Path
    server_ca: Path
    client_ca: Path
    crl: Path
    extra_ca: Path


__all__ = ["LAB_SERVER_NAME", "LAB_ALT_SERVER_NAME", "Target", "LabPKI", "LabFiles"]

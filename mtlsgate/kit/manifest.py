"""``kit.json``: the manifest that ties a kit's files to their roles, and reading it back.

``mtlsgate kit`` writes it; ``pytest --kit DIR`` and ``mtlsgate kit --emit-config`` read
it, so that nobody has to remember which ``ca.key`` is which. Paths in the manifest are
relative to the kit directory. A missing or unreadable file is one :class:`UsageError` line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from ..errors import UsageError
from ..pki import Credential, load_certificates, load_credential, read_file

MANIFEST = "kit.json"
FORMAT = "mtlsgate-kit/1"

#: Roles a manifest may name, and whether a kit must have them.
ROLES = {
    "server_ca": True, "server_ca_key": False,
    "server_cert": True, "server_key": True,
    "client_ca": True, "client_ca_key": True,
    "client_cert": True, "client_key": True, "client_p12": False,
    "revoked_cert": False, "revoked_key": False,
    "crl": False,
    "suite_crls": False,  # empty CRLs for the CAs the suite mints under the client CA (``mtlsgate crls``)
}


@dataclass(frozen=True)
class Manifest:
    """What ``kit.json`` says: the profile, the server name, and role -> relative path."""

    profile: str
    server_name: str
    files: dict[str, str]
    dated: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "profile": self.profile, "server_name": self.server_name,
                "files": dict(self.files), "dated": list(self.dated)}


@dataclass(frozen=True, eq=False)
class Kit:
    """A kit read back from disk: absolute paths and the credentials the suite needs."""

    directory: Path
    manifest: Manifest
    paths: dict[str, Path]
    server_ca_cert: Path
    client_ca: Credential
    identity: Credential
    server_ca: Credential | None = None  # with its key, when the kit holds it
    revoked: Credential | None = None
    crl: x509.CertificateRevocationList | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def server_name(self) -> str:
        return self.manifest.server_name


def write_manifest(directory: Path, manifest: Manifest) -> Path:
    path = directory / MANIFEST
    path.write_text(json.dumps(manifest.to_dict(), indent=2) + "\n")
    return path


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST
    if not directory.is_dir():
        raise UsageError(f"--kit {directory}: no such directory")
    raw = read_file(path, "kit manifest")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"kit manifest {path}: not JSON; remake the kit with mtlsgate kit") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UsageError(f"kit manifest {path}: not an {FORMAT} manifest; remake the kit with mtlsgate kit")
    files = data.get("files")
    name = data.get("server_name")
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()) or not isinstance(name, str):
        raise UsageError(f"kit manifest {path}: 'files' and 'server_name' are malformed")
    unknown = set(files) - set(ROLES)
    if unknown:
        raise UsageError(f"kit manifest {path}: unknown file role(s) {', '.join(sorted(unknown))}")
    missing = [role for role, required in ROLES.items() if required and role not in files]
    if missing:
        raise UsageError(f"kit manifest {path}: names no {', '.join(missing)}")
    return Manifest(profile=str(data.get("profile", "")), server_name=name, files=files,
                    dated=tuple(str(d) for d in data.get("dated", ())))


def load_kit(directory: Path) -> Kit:
    """Read ``DIR/kit.json`` and every file it names; one line when anything is wrong."""
    directory = Path(directory).resolve()
    manifest = read_manifest(directory)
    paths = {role: directory / rel for role, rel in manifest.files.items()}
    for role, path in paths.items():
        if not path.is_file():
            raise UsageError(f"kit {directory}: {role} file {manifest.files[role]} is missing")
        read_file(path, f"kit {role} file")  # unreadable (permissions) -> one line now
    load_certificates(paths["server_ca"], "kit server CA")
    client_ca = load_credential(paths["client_ca"], paths["client_ca_key"], "kit client CA")
    identity = load_credential(paths["client_cert"], paths["client_key"], "kit client")
    load_credential(paths["server_cert"], paths["server_key"], "kit server")
    server_ca = (load_credential(paths["server_ca"], paths["server_ca_key"], "kit server CA")
                 if "server_ca_key" in paths else None)
    revoked = None
    if "revoked_cert" in paths or "revoked_key" in paths:
        if not ("revoked_cert" in paths and "revoked_key" in paths):
            raise UsageError(f"kit manifest {directory / MANIFEST}: revoked_cert and revoked_key go together")
        revoked = load_credential(paths["revoked_cert"], paths["revoked_key"], "kit revoked client")
    crl = load_crl(paths["crl"], "kit CRL") if "crl" in paths else None
    # Leaves issued directly by the kit's CA: the credential's root is that CA.
    client_ca = Credential(key=client_ca.key, cert=client_ca.cert, root=client_ca.cert)
    identity = Credential(key=identity.key, cert=identity.cert, chain=identity.chain, root=client_ca.cert)
    if revoked is not None:
        revoked = Credential(key=revoked.key, cert=revoked.cert, chain=revoked.chain, root=client_ca.cert)
    if server_ca is not None:
        server_ca = Credential(key=server_ca.key, cert=server_ca.cert, root=server_ca.cert)
    return Kit(directory=directory, manifest=manifest, paths=paths, server_ca_cert=paths["server_ca"],
               client_ca=client_ca, identity=identity, server_ca=server_ca, revoked=revoked, crl=crl)


def load_crl(path: Path, what: str) -> x509.CertificateRevocationList:
    data = read_file(path, what)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError:
        raise UsageError(f"{what} {path}: not a PEM or DER CRL") from None


__all__ = ["Kit", "Manifest", "MANIFEST", "FORMAT", "ROLES", "load_kit", "read_manifest", "write_manifest", "load_crl"]

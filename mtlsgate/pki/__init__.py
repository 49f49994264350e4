"""Keys, certificates and CRLs: a :class:`CertSpec` in, a :class:`Credential` out; the user's own files read.

The bottom layer: it knows X.509 and nothing of TLS, targets or verdicts. ``keys`` pools
and caches keys (files 0600), ``certs`` issues certificates and CRLs, ``decrepit`` signs
test material with SHA-1/MD5 (which ``cryptography``'s builder refuses), ``loading`` reads PEM
files with one-line errors.

May import: :mod:`mtlsgate.errors` only.
"""

from __future__ import annotations

from .certs import (
    EKUS,
    HASHES,
    KEY_USAGES,
    NAME_ATTRIBUTES,
    UNKNOWN_EXTENSION_OID,
    CertSpec,
    Credential,
    CredentialFiles,
    Extension,
    NameConstraintsSpec,
    build_name,
    issue,
    issue_derived,
    key_description,
    make_crl,
    pem,
    signature_hash_name,
    unknown_critical_extension,
)
from .decrepit import LEGACY_HASHES, legacy_sign
from .keys import (
    KEY_TYPES,
    KeyPool,
    PrivateKey,
    default_cache_dir,
    derivation_seed,
    derive_key,
    derive_serial,
    generate_key,
    key_from_seed,
    key_pem,
    write_private,
)
from .loading import load_ca_credential, load_certificates, load_credential, load_private_key, read_file

__all__ = [
    "PrivateKey",
    "KEY_TYPES",
    "generate_key",
    "default_cache_dir",
    "write_private",
    "KeyPool",
    "key_pem",
    "derivation_seed",
    "derive_serial",
    "derive_key",
    "key_from_seed",
    "LEGACY_HASHES",
    "legacy_sign",
    "CertSpec",
    "Credential",
    "CredentialFiles",
    "Extension",
    "NameConstraintsSpec",
    "issue",
    "issue_derived",
    "make_crl",
    "pem",
    "unknown_critical_extension",
    "signature_hash_name",
    "key_description",
    "build_name",
    "HASHES",
    "NAME_ATTRIBUTES",
    "EKUS",
    "KEY_USAGES",
    "UNKNOWN_EXTENSION_OID",
    "read_file",
    "load_certificates",
    "load_private_key",
    "load_credential",
    "load_ca_credential",
]

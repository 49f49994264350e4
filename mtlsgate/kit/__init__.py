"""``mtlsgate kit`` and ``mtlsgate lint``: the seed guide's CA, server and client files, done right, and checked.

``make`` writes a kit (``seed``: the guide's own ``openssl`` recipe; ``modern``), ``manifest``
reads and writes its ``kit.json``, ``lint`` says what is wrong with certificates before
they are uploaded.

May import: :mod:`mtlsgate.judge`, :mod:`mtlsgate.wire`, :mod:`mtlsgate.pki`, :mod:`mtlsgate.errors`
(never :mod:`mtlsgate.checks` or :mod:`mtlsgate.fuzz`, its siblings).
"""

from __future__ import annotations

from .lint import (
    CLIENT_MAX_DAYS,
    CRL_WARNING_DAYS,
    EXPIRY_WARNING_DAYS,
    SERVER_MAX_DAYS,
    SEVERITIES,
    Finding,
    at_or_above,
    format_text,
    lint_paths,
    to_json,
)
from .make import (
    CA_DAYS,
    CLIENT_DAYS,
    CRL_DAYS,
    MODERN_KEYS,
    PASSWORD_ENV,
    SEED_CN,
    SEED_CONFS,
    SEED_DATED,
    SERVER_DAYS,
    KitOptions,
    KitResult,
    make_kit,
    p12_password,
    san_entries,
    seed_conf,
    upload_guide,
)
from .make import (
    PROFILES as KIT_PROFILES,
)
from .manifest import FORMAT, MANIFEST, ROLES, Kit, Manifest, load_crl, load_kit, read_manifest, write_manifest

__all__ = [
    "Kit",
    "Manifest",
    "MANIFEST",
    "FORMAT",
    "ROLES",
    "load_kit",
    "read_manifest",
    "write_manifest",
    "load_crl",
    "KitOptions",
    "KitResult",
    "make_kit",
    "KIT_PROFILES",
    "MODERN_KEYS",
    "SEED_DATED",
    "seed_conf",
    "san_entries",
    "upload_guide",
    "p12_password",
    "PASSWORD_ENV",
    "SEED_CONFS",
    "SEED_CN",
    "SERVER_DAYS",
    "CLIENT_DAYS",
    "CA_DAYS",
    "CRL_DAYS",
    "Finding",
    "SEVERITIES",
    "lint_paths",
    "at_or_above",
    "format_text",
    "to_json",
    "SERVER_MAX_DAYS",
    "CLIENT_MAX_DAYS",
    "EXPIRY_WARNING_DAYS",
    "CRL_WARNING_DAYS",
]

"""What the suite tests: any URL, the embedded reference target, and real LBs it provisions on loopback.

``base`` holds :class:`Target` and the lab PKI; ``reference`` is the strict in-process proxy
(and its mutants); ``local`` renders ``fixtures/targets/<lb>/`` and runs the binary by pid;
``crls`` makes the CRL bundle for the CAs the suite mints (``mtlsgate crls``); ``provision`` makes
``local:<lb>[:variant]`` from those; ``select`` turns a ``--target`` value into a running target
(``open_target``); ``emit`` renders a kit's listener config; ``inventory`` reads a fleet
(``--targets-file``) and shards it.

May import: :mod:`mtlsgate.checks`, :mod:`mtlsgate.fuzz`, :mod:`mtlsgate.kit` and everything below them.
"""

from __future__ import annotations

from .base import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabFiles, LabPKI, Target
from .crls import SUITE_CRL_DAYS, SuiteCRLs, suite_cas, suite_crls
from .emit import START_COMMANDS, Emitted, emit_config
from .inventory import ENTRY_KEYS, TRUST_KEYS, TargetSpec, load_inventory, parse_shard, shard
from .local import (
    FIXTURES_DIR,
    LBS,
    TEMPLATE_KEYS,
    LBFiles,
    LBStartError,
    LBUnavailable,
    RunningLB,
    binary_for,
    lb_version,
    render,
    render_config,
    run_lb,
    variants,
)
from .provision import TargetUnavailable, default_profile, in_ci, kit_lb_files, parse_local, run_local
from .reference import (
    MAX_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_REQUESTS_PER_CONNECTION,
    MUTANTS,
    ReferencePolicy,
    ReferenceServer,
    RunningReference,
    run_reference,
)
from .select import (
    REFERENCE_IDENTITY_HEADERS,
    TargetOptions,
    external_target,
    lab_target,
    open_target,
    parse_identity_header,
    parse_url,
    validate_spec,
)

__all__ = [
    "LAB_SERVER_NAME",
    "LAB_ALT_SERVER_NAME",
    "Target",
    "LabPKI",
    "LabFiles",
    "LBS",
    "TEMPLATE_KEYS",
    "FIXTURES_DIR",
    "LBFiles",
    "RunningLB",
    "LBUnavailable",
    "LBStartError",
    "binary_for",
    "variants",
    "lb_version",
    "render",
    "render_config",
    "run_lb",
    "ReferencePolicy",
    "RunningReference",
    "ReferenceServer",
    "run_reference",
    "MAX_HEADER_BYTES",
    "MAX_BODY_BYTES",
    "MAX_REQUESTS_PER_CONNECTION",
    "MAX_CONNECTIONS",
    "MUTANTS",
    "TargetUnavailable",
    "parse_local",
    "default_profile",
    "kit_lb_files",
    "run_local",
    "in_ci",
    "TargetOptions",
    "parse_identity_header",
    "REFERENCE_IDENTITY_HEADERS",
    "open_target",
    "validate_spec",
    "parse_url",
    "lab_target",
    "external_target",
    "emit_config",
    "Emitted",
    "START_COMMANDS",
    "SUITE_CRL_DAYS",
    "SuiteCRLs",
    "suite_cas",
    "suite_crls",
    "ENTRY_KEYS",
    "TRUST_KEYS",
    "TargetSpec",
    "load_inventory",
    "parse_shard",
    "shard",
]

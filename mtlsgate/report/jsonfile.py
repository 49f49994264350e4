"""``mtlsgate.json``: every verdict with its evidence, versioned (docs/schema/mtlsgate.schema.json)."""

from __future__ import annotations

import datetime as dt
import platform
from typing import Any

from .. import __version__
from .status import RunInfo, counts, coverage, run_status

#: Version of ``mtlsgate.json`` (docs/schema/mtlsgate.schema.json): minor for added fields, major for breaks.
SCHEMA_VERSION = "1.2"


def build_json(records: list[dict[str, Any]], info: RunInfo) -> dict[str, Any]:
    ordered = sorted(records, key=lambda r: (r["target"], r["id"], r["tls_version"]))
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mtlsgate", "version": __version__, "python": platform.python_version()},
        "started_at": dt.datetime.fromtimestamp(info.started_at, dt.UTC).isoformat(),
        "duration_s": round(info.duration_s, 3),
        "profile": info.profile,
        "targets": info.targets,
        "aborted": info.aborted,
        "interrupted": info.interrupted,
        "status": run_status(ordered, info),
        "coverage": coverage(ordered, info),
        "require_all": info.require_all,
        "not_run": sorted(info.not_run, key=lambda n: (n["target"], n["id"], n["tls_version"])),
        "counts": counts(ordered),
        "waivers": info.waivers,
        "comparison": info.comparison,
        "checks": ordered,
        **info.extra,
    }


__all__ = ["SCHEMA_VERSION", "build_json"]

"""Waivers: a team accepts a known failure on the record, with a reason, an owner and an end date.

A waiver turns a matching failure into XFAIL (reported with its reason); it never hides a
check. It lapses on its ``expires`` date: from the day after, the failure is a failure
again and the run fails, so accepted risk is revisited instead of forgotten. A waiver
that matches no failure any more is reported as stale, so the file shrinks as fixes land.

File format (TOML)::

    [[waiver]]
    check = "reject.ca-as-leaf"       # required: a check id
    tls_version = "1.2"               # optional: "1.2" or "1.3"
    target = "local:nginx"            # optional: a --target value
    reason = "vendor bug #123"        # required
    owner = "platform-team"           # required
    expires = 2027-03-31              # required: a TOML date; the waiver holds through that day
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..checks import catalogue, registry
from ..errors import UsageError
from ..wire import TRANSPORTS

_REQUIRED = {"check": str, "reason": str, "owner": str, "expires": dt.date}
_OPTIONAL = {"tls_version": str, "target": str}


@dataclass(frozen=True)
class Waiver:
    check: str
    reason: str
    owner: str
    expires: dt.date
    tls_version: str | None = None
    target: str | None = None
    index: int = 0  # position in the file, for messages

    def matches(self, record: dict[str, Any]) -> bool:
        return (record["id"] == self.check
                and self.tls_version in (None, record["tls_version"])
                and self.target in (None, record["target"]))

    def expired(self, today: dt.date) -> bool:
        return today > self.expires

    @property
    def scope(self) -> str:
        parts = [self.check]
        if self.tls_version:
            parts.append(f"TLS {self.tls_version}")
        if self.target:
            parts.append(f"on {self.target}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "tls_version": self.tls_version, "target": self.target,
                "reason": self.reason, "owner": self.owner, "expires": self.expires.isoformat()}


def today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def load(path: Path) -> tuple[Waiver, ...]:
    """Parse and check a waiver file; any mistake is one ``UsageError`` line naming the file."""
    where = f"--waivers {path}"
    try:
        data = tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise UsageError(f"{where}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: not valid TOML ({exc})") from None
    unknown = set(data) - {"waiver"}
    if unknown:
        raise UsageError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; expected [[waiver]] tables")
    rows = data.get("waiver", [])
    if not isinstance(rows, list):
        raise UsageError(f"{where}: 'waiver' must be an array of tables ([[waiver]])")
    return tuple(_parse(row, i + 1, where) for i, row in enumerate(rows))


def _parse(row: Any, n: int, where: str) -> Waiver:
    at = f"{where}: waiver #{n}"
    if not isinstance(row, dict):
        raise UsageError(f"{at}: expected a table")
    unknown = set(row) - set(_REQUIRED) - set(_OPTIONAL)
    if unknown:
        raise UsageError(f"{at}: unknown key(s) {', '.join(sorted(unknown))}; "
                         f"allowed: {', '.join([*_REQUIRED, *_OPTIONAL])}")
    for key, kind in {**_REQUIRED, **_OPTIONAL}.items():
        if key not in row:
            if key in _REQUIRED:
                raise UsageError(f"{at}: '{key}' is required")
            continue
        value = row[key]
        if kind is dt.date:
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise UsageError(f"{at}: 'expires' must be a TOML date like 2027-03-31, not {value!r}")
        elif not isinstance(value, kind) or not value.strip():
            raise UsageError(f"{at}: '{key}' must be a non-empty string, not {value!r}")
    check = row["check"]
    try:
        catalogue.get(check)
    except KeyError:
        if check != "mode.client-auth-required" and check not in registry.PROBE_CHECKS:
            raise UsageError(f"{at}: unknown check id {check!r}") from None
    if row.get("tls_version") not in (None, *TRANSPORTS):
        raise UsageError(f"{at}: 'tls_version' must be one of {', '.join(TRANSPORTS)}, not {row['tls_version']!r}")
    return Waiver(check=check, reason=row["reason"].strip(), owner=row["owner"].strip(), expires=row["expires"],
                  tls_version=row.get("tls_version"), target=row.get("target"), index=n)


def find(waivers: Iterable[Waiver], record: dict[str, Any]) -> Waiver | None:
    """The first waiver that matches ``record`` (expired or not: an expired one is reported as such)."""
    for w in waivers:
        if w.matches(record):
            return w
    return None


def review(waivers: Iterable[Waiver], records: list[dict[str, Any]], on: dt.date) -> dict[str, Any]:
    """The waivers' state after a run: which waived something, which expired, which are stale."""
    used, expired, stale, unexercised = [], [], [], []
    for w in waivers:
        mine = [r for r in records if w.matches(r)]
        entry = w.to_dict()
        if w.expired(on):
            expired.append(entry | {"failures": sorted({_where(r) for r in mine if r["verdict"] == "fail"})})
        elif any(r["verdict"] == "waived" for r in mine):
            used.append(entry | {"waived": sorted(_where(r) for r in mine if r["verdict"] == "waived")})
        elif mine:
            stale.append(entry)  # its checks ran and none failed: the waiver can go
        else:
            unexercised.append(entry)  # its checks did not run in this run (filtered, skipped target)
    return {"used": used, "expired": expired, "stale": stale, "not_run": unexercised}


def _where(record: dict[str, Any]) -> str:
    return f"{record['id']} [TLS {record['tls_version']}] on {record['target']}"


__all__ = ["Waiver", "today", "load", "find", "review"]

"""A fleet in one file: ``--targets-file fleet.toml`` lists every listener with its own trust material.

A platform team audits every ingress host in every region, each with its own client CA, in
one run; one set of ``--server-ca``/``--client-ca-*`` flags cannot describe that. Each
``[[target]]`` entry here carries what the flags carry for one target (paths relative to the
inventory file), and a bad entry is reported in one line that names its index, before
anything is probed. ``shard`` picks a deterministic 1/N of the targets for a CI matrix.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..judge import IDENTITY_KINDS
from ..judge import load_profile as _load_profile
from .select import LOCAL_PREFIX, TargetOptions, external_target, validate_spec

#: Keys an entry may have; the trust material applies to https:// entries only (the suite
#: makes its own PKI for ``reference`` and ``local:<lb>``).
TRUST_KEYS = ("server_name", "server_ca", "client_ca_cert", "client_ca_key", "client_cert", "client_key",
              "revoked_cert", "revoked_key", "alt_server_name", "echo_backend")
ENTRY_KEYS = frozenset({"url", "name", "profile", "identity_headers", *TRUST_KEYS})
_PATH_KEYS = ("server_ca", "client_ca_cert", "client_ca_key", "client_cert", "client_key", "revoked_cert",
              "revoked_key")
_STRING_KEYS = ("url", "name", "profile", "server_name", "alt_server_name")


@dataclass(frozen=True)
class TargetSpec:
    """One target of a run: the name its rows carry, where it is, and its own trust material.

    ``name`` is the key of the target everywhere (records, matrix columns, shards, merge);
    it is the ``url`` unless the entry names it (two names on one address: SNI virtual hosts).
    """

    name: str
    url: str  # reference, local:<lb>[:variant] or an https:// URL
    options: TargetOptions = field(default_factory=TargetOptions)
    profile: str | None = None  # a profile name or a .toml path; None: the run's --profile or the target's own
    identity_headers: tuple[tuple[str, str], ...] = ()  # header -> what it carries, added to the profile
    index: int | None = None  # the entry's number in the inventory (1-based), for messages


def load_inventory(path: Path) -> tuple[TargetSpec, ...]:
    """Read and check every entry of ``path`` now (files read, keys parsed); raise UsageError in one line."""
    where = f"--targets-file {path}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{where}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{where}: {getattr(exc, 'strerror', None) or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where}: not TOML: {exc}") from None
    unknown = sorted(set(data) - {"target"})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r} (expected [[target]] entries)")
    entries = data.get("target")
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{where}: no [[target]] entries")
    base = path.parent
    specs: list[TargetSpec] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        label = f"{where}: entry {number}"
        if not isinstance(entry, dict):
            raise UsageError(f"{label}: expected a [[target]] table")
        if isinstance(entry.get("url"), str):
            label += f" ({entry['url']})"
        try:
            spec = _entry(entry, base, number)
        except UsageError as exc:
            raise UsageError(f"{label}: {exc}") from None
        if spec.name in seen:
            raise UsageError(f"{label}: target {spec.name!r} is already entry {seen[spec.name]} "
                             "(give each entry on a shared address its own name)")
        seen[spec.name] = number
        specs.append(spec)
    return tuple(specs)


def _entry(entry: dict[str, Any], base: Path, number: int) -> TargetSpec:
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise UsageError(f"unknown key {unknown[0]!r} (expected {', '.join(sorted(ENTRY_KEYS))})")
    for key in _STRING_KEYS + _PATH_KEYS:
        if key in entry and (not isinstance(entry[key], str) or not entry[key].strip()):
            raise UsageError(f"{key} must be a non-empty string")
    if "url" not in entry:
        raise UsageError("url is missing (reference, local:<lb> or an https:// URL)")
    if "echo_backend" in entry and not isinstance(entry["echo_backend"], bool):
        raise UsageError("echo_backend must be true or false")
    url = entry["url"]
    try:
        validate_spec(url)
    except UsageError as exc:
        raise UsageError(str(exc).replace("--target ", "url ", 1)) from None
    external = not (url == "reference" or url.startswith(LOCAL_PREFIX))
    given = [k for k in TRUST_KEYS if k in entry]
    if given and not external:
        raise UsageError(f"{given[0]} applies to https:// targets only ({url} uses the suite's own PKI)")
    paths = {k: (base / entry[k]) for k in _PATH_KEYS if k in entry}
    for key, file in paths.items():
        if not file.is_file():
            raise UsageError(f"{key} {file}: no such file")
    options = TargetOptions(server_name=entry.get("server_name"), alt_server_name=entry.get("alt_server_name"),
                            echo_backend=entry.get("echo_backend", False), **paths)
    profile = entry.get("profile")
    if profile is not None and profile.endswith(".toml"):
        profile = str(base / profile)
    headers = _identity_headers(entry.get("identity_headers"))
    try:
        if profile is not None:
            _load_profile(profile)
        if external:
            external_target(url, options, profile or "default")  # reads and parses every file now
    except UsageError as exc:
        raise UsageError(_file_words(str(exc))) from None
    return TargetSpec(name=entry.get("name", url), url=url, options=options, profile=profile,
                      identity_headers=headers, index=number)


def _identity_headers(value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise UsageError("identity_headers must be a table of header = what it carries "
                         f"({', '.join(IDENTITY_KINDS)})")
    for header, kind in value.items():
        if kind not in IDENTITY_KINDS:
            raise UsageError(f"identity_headers.{header} must be one of {', '.join(IDENTITY_KINDS)}")
    return tuple(sorted(value.items()))


def _file_words(message: str) -> str:
    """external_target speaks in flags (--client-cert); an inventory entry has keys (client_cert)."""
    for key in TRUST_KEYS:
        message = message.replace(f"--{key.replace('_', '-')}", key)
    return message


def shard(specs: Sequence[TargetSpec], k: int, n: int) -> tuple[TargetSpec, ...]:
    """Shard ``k`` of ``n`` (1-based): every n-th target by name, so the split never depends on file order."""
    ordered = sorted(specs, key=lambda s: s.name)
    return tuple(s for i, s in enumerate(ordered) if i % n == k - 1)


def parse_shard(value: str) -> tuple[int, int]:
    """``K/N`` with 1 <= K <= N (a Kubernetes Indexed Job passes ``$((JOB_COMPLETION_INDEX + 1))/N``)."""
    k, sep, n = value.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not 1 <= int(k) <= int(n):
        raise UsageError(f"--shard {value}: expected K/N with 1 <= K <= N (e.g. 2/3)")
    return int(k), int(n)


__all__ = ["ENTRY_KEYS", "TRUST_KEYS", "TargetSpec", "load_inventory", "parse_shard", "shard"]

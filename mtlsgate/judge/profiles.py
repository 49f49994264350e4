"""Expectation profiles: what counts as a rejection, and which policy choices a target made.

Profiles are TOML data in ``fixtures/profiles/`` so that operators can read and copy them;
a profile may ``extends`` another and change only what differs.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import UsageError

SIGNALS = ("tls-alert", "eof", "http-4xx", "misdirected")
POLICY_VALUES = ("fail", "warn")
_KEYS = {"name", "description", "extends", "rejection_signals", "max_intermediates", "policy", "unsupported",
         "ca_names", "identity_headers", "unowned_identity_headers"}
#: trust.ca-names: "exact" (the advertised CA names are the configured client CAs) or
#: "exact-or-none" (a listener may also advertise no names at all, e.g. nginx ssl_trusted_certificate).
CA_NAMES_VALUES = ("exact", "exact-or-none")
#: What an identity header forwarded to the backend carries, for headers.forwarded-identity.
#: ``any``: the header must carry one of the others (``--identity-header NAME`` without a format).
IDENTITY_KINDS = ("verify", "subject-dn", "issuer-dn", "serial-hex", "serial-decimal", "sha1", "sha256", "cert",
                  "cert-info", "subject-cn", "any")
#: headers.spoof-*: what a forged identity-looking header that the LB neither sets nor strips is
#: ("warn": reported, the backend must not read it; "fail": every such name must be stripped).
UNOWNED_VALUES = ("warn", "fail")


def fixtures_dir() -> Path:
    """The repo's ``fixtures/`` (source checkout), else the copy installed with the package."""
    checkout = Path(__file__).resolve().parents[2]  # mtlsgate/judge/profiles.py -> the checkout
    if (checkout / "pyproject.toml").is_file() and (checkout / "fixtures" / "profiles").is_dir():
        return checkout / "fixtures"
    return Path(str(resources.files("mtlsgate") / "_fixtures"))


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    rejection_signals: frozenset[str] = frozenset(SIGNALS)
    max_intermediates: int = 3
    policy: Mapping[str, str] = field(default_factory=dict)
    unsupported: Mapping[str, str] = field(default_factory=dict)
    ca_names: str = "exact"
    identity_headers: Mapping[str, str] = field(default_factory=dict)  # header name -> IDENTITY_KINDS
    unowned_identity_headers: str = "warn"  # UNOWNED_VALUES
    source: str = ""

    def policy_for(self, check_id: str) -> str:
        """``fail`` (the default for every check) or ``warn``."""
        return self.policy.get(check_id, "fail")


def with_product(site: Profile, product: Profile) -> Profile:
    """``site`` (the user's expectations) plus what ``product`` cannot enforce (its ``unsupported``).

    Product behaviour holds for every listener of the product, whatever the site expects:
    with ``--profile default`` a Caddy listener still cannot check a CRL.
    """
    if site.name == product.name or not product.unsupported:
        return site
    unsupported = {**product.unsupported, **site.unsupported}
    return replace(site, unsupported=unsupported,
                   description=f"{site.description} Product behaviour from {product.name}: "
                               f"{', '.join(sorted(product.unsupported))} not supported.")


def available() -> list[str]:
    return sorted(p.stem for p in (fixtures_dir() / "profiles").glob("*.toml"))


def load(name_or_file: str) -> Profile:
    """A profile by name (``fixtures/profiles/NAME.toml``) or by path."""
    return _load(name_or_file, seen=())


def _resolve(name_or_file: str) -> Path:
    candidate = Path(name_or_file)
    if candidate.suffix == ".toml" or "/" in name_or_file:
        if not candidate.is_file():
            raise UsageError(f"profile file {name_or_file}: not found")
        return candidate
    path = fixtures_dir() / "profiles" / f"{name_or_file}.toml"
    if not path.is_file():
        raise UsageError(f"unknown profile {name_or_file!r}; available: {', '.join(available())}, or a .toml file")
    return path


def _load(name_or_file: str, seen: tuple[str, ...]) -> Profile:
    path = _resolve(name_or_file)
    if str(path) in seen:
        raise UsageError(f"profile {path}: 'extends' forms a loop")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"profile {path}: {exc}") from None
    unknown = set(data) - _KEYS
    if unknown:
        raise UsageError(f"profile {path}: unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_KEYS))}")
    base = _load(_expect(data, "extends", str, path), seen + (str(path),)) if "extends" in data else Profile("base")
    signals = data.get("rejection_signals", sorted(base.rejection_signals))
    if not isinstance(signals, list) or not all(s in SIGNALS for s in signals):
        raise UsageError(f"profile {path}: rejection_signals must be a list drawn from {', '.join(SIGNALS)}")
    policy = dict(base.policy)
    for check_id, value in _expect(data, "policy", dict, path, {}).items():
        if value not in POLICY_VALUES:
            raise UsageError(f"profile {path}: policy for {check_id} must be one of {', '.join(POLICY_VALUES)}")
        policy[check_id] = value
    unsupported = dict(base.unsupported)
    for check_id, reason in _expect(data, "unsupported", dict, path, {}).items():
        if not isinstance(reason, str) or not reason:
            raise UsageError(f"profile {path}: unsupported.{check_id} needs a reason (a string)")
        unsupported[check_id] = reason
    depth = _expect(data, "max_intermediates", int, path, base.max_intermediates)
    if not 0 <= depth <= 16:
        raise UsageError(f"profile {path}: max_intermediates must be between 0 and 16")
    ca_names = _expect(data, "ca_names", str, path, base.ca_names)
    if ca_names not in CA_NAMES_VALUES:
        raise UsageError(f"profile {path}: ca_names must be one of {', '.join(CA_NAMES_VALUES)}")
    identity = dict(base.identity_headers)
    for header, kind in _expect(data, "identity_headers", dict, path, {}).items():
        if kind not in IDENTITY_KINDS:
            raise UsageError(f"profile {path}: identity_headers.{header} must be one of {', '.join(IDENTITY_KINDS)}")
        identity[header] = kind
    unowned = _expect(data, "unowned_identity_headers", str, path, base.unowned_identity_headers)
    if unowned not in UNOWNED_VALUES:
        raise UsageError(f"profile {path}: unowned_identity_headers must be one of {', '.join(UNOWNED_VALUES)}")
    return Profile(
        name=_expect(data, "name", str, path, path.stem),
        description=_expect(data, "description", str, path, base.description),
        rejection_signals=frozenset(signals),
        max_intermediates=depth,
        policy=policy,
        unsupported=unsupported,
        ca_names=ca_names,
        identity_headers=identity,
        unowned_identity_headers=unowned,
        source=str(path),
    )


def _expect(data: dict[str, Any], key: str, kind: type, path: Path, default: Any = None) -> Any:
    value = data.get(key, default)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UsageError(f"profile {path}: {key} must be a {kind.__name__}")
    return value


__all__ = ["SIGNALS", "POLICY_VALUES", "CA_NAMES_VALUES", "IDENTITY_KINDS", "UNOWNED_VALUES", "fixtures_dir", "Profile", "available", "load", "with_product"]

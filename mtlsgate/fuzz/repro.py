"""Reproducers: a shrunk disagreement as files anyone can replay against the target.

``<reports>/repro/<id>/`` holds ``chain.pem`` (leaf, then the intermediates the client
sends), ``key.pem`` (0600; a throwaway test key from the key pool, never a user's key),
``ca.pem`` (the client CA it chains to, public), ``spec.json`` (the generating spec, with
the fields in which it differs from a valid chain), ``outcome.json`` (what the target did,
what the oracle demands, under which policy version) and a ``README.md`` with the exact
``mtlsgate replay`` command.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from ..pki import write_private
from ..wire import Outcome, describe, to_dict
from .campaign import Example
from .strategies import differences, spec_to_dict

FILES = ("chain.pem", "key.pem", "ca.pem", "spec.json", "outcome.json", "README.md")


def reproducer_id(target: str, tls_version: str, example: Example) -> str:
    assert example.credential is not None
    digest = hashlib.sha256(repr((target, tls_version, example.key, differences(example.chain))).encode()).hexdigest()
    slug = re.sub(r"[^a-z0-9]+", "-", target.lower()).strip("-")
    return f"{slug}-tls{tls_version}-{example.kind}-{digest[:8]}"


def replay_command(directory: Path, flags: str, tls_version: str) -> str:
    return f"mtlsgate replay {shlex.quote(str(directory))} {flags} --tls-version {tls_version}".replace("  ", " ")


def write_reproducer(root: Path, example: Example, *, target: str, tls_version: str, profile: str, flags: str,
                     baseline: Outcome | None) -> Path:
    """Write one reproducer; returns its directory."""
    assert example.credential is not None and example.oracle is not None and example.outcome is not None
    directory = root / reproducer_id(target, tls_version, example)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    cred = example.credential
    (directory / "chain.pem").write_bytes(cred.chain_pem)
    write_private(directory / "key.pem", cred.key_pem)
    if cred.root is not None:
        (directory / "ca.pem").write_bytes(cred.root.public_bytes(serialization.Encoding.PEM))
    spec = spec_to_dict(example.chain)
    (directory / "spec.json").write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
    outcome: dict[str, Any] = {
        "kind": example.kind,
        "target": target,
        "tls_version": tls_version,
        "profile": profile,
        "oracle": example.oracle.to_dict(),
        "observed": example.seen.result if example.seen else None,
        "observed_why": example.seen.why if example.seen else None,
        "outcome": to_dict(example.outcome),
        "baseline": to_dict(baseline) if baseline is not None else None,
        "differs_from_valid_in": spec["differs_from_valid_in"],
    }
    (directory / "outcome.json").write_text(json.dumps(outcome, indent=2, ensure_ascii=False) + "\n")
    command = replay_command(directory, flags, tls_version)
    what = {"lb-looser": "accepted a chain the oracle says must be rejected",
            "lb-stricter": "rejected a chain the oracle says must be accepted",
            "inconclusive": "gave no answer to this chain"}.get(example.kind, example.kind)
    readme = [
        f"# mtlsgate reproducer: {directory.name}",
        "",
        f"The target `{target}` (TLS {tls_version}, profile `{profile}`) {what}.",
        "",
        f"- oracle: {example.oracle.summary()}",
        f"- target: {describe(example.outcome)}",
        f"- differs from a valid chain in: {', '.join(spec['differs_from_valid_in']) or '(nothing)'}",
        f"- oracle policy: {example.oracle.policy}",
        "",
        "Files: `chain.pem` (leaf first, then the intermediates sent), `key.pem` (a throwaway test key, 0600),",
        "`ca.pem` (the client CA it chains to), `spec.json`, `outcome.json`.",
        "",
        "Replay (exit 0: the target now agrees with the oracle; 1: it still disagrees; 2: usage error):",
        "",
        "```",
        command,
        "```",
        "",
        "Or by hand: `curl --cert chain.pem --key key.pem ...` against the same endpoint.",
        "Validity is relative to the moment of issue: a reproducer about expiry or not-yet-valid",
        "dates keeps its meaning only while the dates still fall the same way (replay re-judges at replay time).",
    ]
    (directory / "README.md").write_text("\n".join(readme) + "\n")
    return directory


__all__ = ["write_reproducer", "reproducer_id", "replay_command", "FILES"]

"""A small fleet for self-tests: reference targets on loopback, each its own PKI, and their inventory.

The targets run in the test's process (threads); the suite under test reaches them as
https:// URLs through ``--targets-file``, exactly as it would reach a fleet of real listeners.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from mtlsgate.pki.keys import KeyPool
from mtlsgate.targets import LAB_ALT_SERVER_NAME, MUTANTS, LabPKI, ReferencePolicy, run_reference


@contextlib.contextmanager
def reference_fleet(directory: Path, pool: KeyPool, mutants: Sequence[str | None]) -> Iterator[list[str]]:
    """One reference target per ``mutants`` entry (None: correct); yields the inventory's entries as TOML."""
    with contextlib.ExitStack() as stack:
        entries = []
        for n, mutant in enumerate(mutants):
            sub = directory / f"t{n}"
            pki = LabPKI.create(pool)
            files = pki.write(sub)
            ca = pki.client_root.write(sub, "client-root-ca")
            identity = pki.identity.write(sub, "client")
            revoked = pki.revoked.write(sub, "revoked")
            policy = MUTANTS[mutant] if mutant else ReferencePolicy()
            ref = stack.enter_context(run_reference(pki, sub, policy))
            rel = lambda p: Path(p).relative_to(directory).as_posix()  # noqa: E731 - paths relative to the file
            entries.append("\n".join([
                "[[target]]",
                f'name = "t{n}"',
                f'url = "https://{ref.host}:{ref.port}"',
                f'server_name = "{ref.server_name}"',
                f'server_ca = "{rel(files.server_ca)}"',
                f'client_ca_cert = "{rel(files.client_ca)}"',  # root and intermediate: what the listener trusts
                f'client_ca_key = "{rel(ca.key)}"',
                f'client_cert = "{rel(identity.cert)}"',
                f'client_key = "{rel(identity.key)}"',
                f'revoked_cert = "{rel(revoked.cert)}"',
                f'revoked_key = "{rel(revoked.key)}"',
                f'alt_server_name = "{LAB_ALT_SERVER_NAME}"',
                "echo_backend = true",
                'profile = "reference"',
            ]))
        yield entries

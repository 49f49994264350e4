"""The whole suite run in-process through :class:`~mtlsgate.gate.Gate`, as the plugin runs it.

Lets a self-test look inside a run (the files it writes, the LB's log) and repeat it
cheaply, without a pytest subprocess per run.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from mtlsgate.gate.runner import Gate
from mtlsgate.pki.keys import KeyPool
from mtlsgate.targets import ReferencePolicy, TargetOptions

SUITES = Path(__file__).resolve().parent.parent / "suites"


def suite_check_ids() -> list[str]:
    """Every ``gate.check("...")`` in ``suites/``, in file order: what ``pytest`` runs."""
    ids: list[str] = []
    for module in sorted(SUITES.glob("test_*.py")):
        ids += re.findall(r'gate\.check\("([^"]+)"\)', module.read_text())
    return ids


def run_suite_in_process(spec: str, workdir: Path, pool: KeyPool, *, probe_timeout: float = 5.0,
                         inside: Callable[[Gate], None] | None = None, connections: int = 1,
                         reference_policy: ReferencePolicy | None = None) -> list[dict]:
    """Start ``spec``, run every suite check over TLS 1.2 and 1.3, call ``inside(gate)``, stop; the records.

    ``connections`` > 1: the independent checks run ahead on that many connections, as the
    plugin runs them (``--per-target-connections``); the records are still read in order.
    """
    gate = Gate(target_specs=[spec], options=TargetOptions(), profile=None, workdir=workdir, pool=pool,
                probe_timeout=probe_timeout, reference_policy=reference_policy)
    try:
        gate.start(spec)
        gate.prefetch(spec, [(v, c) for v in gate.tls_versions for c in suite_check_ids()], connections)
        records = [gate.run_check(spec, version, check_id).to_dict()
                   for version in gate.tls_versions for check_id in suite_check_ids()]
        if inside is not None:
            inside(gate)
        return records
    finally:
        gate.close()

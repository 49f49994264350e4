#!/usr/bin/env python3
"""A fleet audit, timed: N mTLS listeners on loopback, the whole non-fuzz suite over all of them.

Never part of the test suite (it takes minutes and its figures are timings). It builds the
fleet — one nginx and one HAProxy process with N/2 listeners each, every listener its own
target with its own client CA, CRL and server certificate, configured the way the
``correct`` templates in ``fixtures/targets/`` configure one listener (client certificate
required, the client CA bundle only, CRLs, SNI/Host agreement, identity headers set and
client copies removed), all proxying to one ``mtlsgate echo-backend`` — writes its
inventory, and runs::

    pytest suites -k "not fuzz" --targets-file fleet.toml

sequentially (``--per-target-connections 1``), with checks run ahead in parallel (the
default), with ``-n 2`` (two workers, a target's checks on one of them) and with ``--jobs 2``
(two shard processes, their reports merged), ``--runs`` times each, taking turns. For each: the median wall time and the range, targets/min,
checks/s, peak RSS of the largest process, and whether every run's verdicts are those of
the (median) sequential run. Then a 3-shard run merged with ``mtlsgate merge`` against the
unsharded report, start-up (``pytest --co -q``, median of 7, and ``python -X importtime``
of the plugin), and sslyze's client-auth scan of the same fleet if sslyze is installed.

    python benchmarks/bench_fleet.py --listeners 50
    python benchmarks/bench_fleet.py --startup-only --python /tmp/venv/bin/python --python python3
    python benchmarks/bench_fleet.py --listeners 50 --sslyze-python /tmp/sslyze-venv/bin/python

Start-up depends on the environment's other pytest plugins (each loads in every session):
``--python`` measures it with other interpreters too, e.g. a fresh venv holding only
``pip install -e .`` (what a CI job has), beside a developer's.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mtlsgate.checks import Materials, catalogue  # noqa: E402 - after the checkout is on the path
from mtlsgate.fuzz import published_fuzz_cas  # noqa: E402
from mtlsgate.pki import Credential, KeyPool, make_crl, pem  # noqa: E402
from mtlsgate.targets import LAB_ALT_SERVER_NAME, LAB_SERVER_NAME, LabPKI  # noqa: E402

NGINX_HEAD = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/nginx.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp/client_body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    underscores_in_headers off;
    ignore_invalid_headers on;
    upstream echo_backend {{ server 127.0.0.1:{backend}; keepalive 16; }}
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_verify_depth 2;
"""

# One listener: the catch-all (421) and the named server, both with this listener's own
# client CA bundle and CRL, as fixtures/targets/nginx/correct.conf sets them for one.
NGINX_LISTENER = """\
    server {{
        listen 127.0.0.1:{port} ssl http2 default_server;
        server_name _ "~.";
        ssl_certificate {d}/server-chain.crt;
        ssl_certificate_key {d}/server.key;
        ssl_verify_client on;
        ssl_client_certificate {d}/client-ca.crt;
        ssl_crl {d}/client-ca.crl;
        return 421;
    }}
    server {{
        listen 127.0.0.1:{port} ssl http2;
        server_name {name};
        ssl_certificate {d}/server-chain.crt;
        ssl_certificate_key {d}/server.key;
        ssl_verify_client on;
        ssl_client_certificate {d}/client-ca.crt;
        ssl_crl {d}/client-ca.crl;
        location / {{
            proxy_pass http://echo_backend;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Connection "";
            proxy_set_header X-SSL-Client-Verify      $ssl_client_verify;
            proxy_set_header X-SSL-Client-DN          $ssl_client_s_dn;
            proxy_set_header X-SSL-Client-Issuer-DN   $ssl_client_i_dn;
            proxy_set_header X-SSL-Client-Serial      $ssl_client_serial;
            proxy_set_header X-SSL-Client-Fingerprint $ssl_client_fingerprint;
            proxy_set_header X-SSL-Client-Cert        $ssl_client_escaped_cert;
{strip}
        }}
    }}
"""

NGINX_STRIP = ("X-SSL-Client-CN", "X-SSL-Client-Used", "X-SSL-Issuer", "X-Client-Cert", "X-Client-Verify",
               "X-Client-Cert-Present", "X-Client-Subject", "X-Forwarded-Client-Cert", "X-Forwarded-Tls-Client-Cert",
               "X-Forwarded-Tls-Client-Cert-Info", "Client-Cert", "Client-Cert-Chain", "ssl-client-verify",
               "ssl-client-subject-dn", "ssl-client-cert", "X-SSL-Client-S-DN", "X-SSL-Client-I-DN",
               "X-SSL-Client-SHA1", "X-Amzn-Mtls-Clientcert", "X-Amzn-Mtls-Clientcert-Subject",
               "CloudFront-Viewer-Cert-Present", "X-Forwarded-Clientcert", "X-Forwarded-Clientcert-Clientverify",
               "X-Forwarded-Clientcert-Subjectdn")

HAPROXY_HEAD = """\
global
    log stderr format raw local0 warning
    maxconn 2048
defaults
    mode http
    log global
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout http-request 10s
backend echo
    server echo 127.0.0.1:{backend}
"""

# One listener, as fixtures/targets/haproxy/correct.cfg configures one.
HAPROXY_LISTENER = """\
frontend mtls{n}
    bind 127.0.0.1:{port} ssl crt {d}/server.pem ssl-min-ver TLSv1.2 ssl-max-ver TLSv1.3 alpn h2,http/1.1 ca-file {d}/client-ca.crt verify required crl-file {d}/client-ca.crl
    http-request set-var(txn.host) req.hdr(host),field(1,:),lower
    http-request return status 421 content-type text/plain string "misdirected request" if {{ ssl_fc_sni -m found }} !{{ ssl_fc_sni,lower,strcmp(txn.host) eq 0 }}
    http-request return status 421 content-type text/plain string "misdirected request" unless {{ var(txn.host) -m str {name} }}
    http-request del-header ^x[-_.]ssl[-_.] -m reg
    http-request del-header ^ssl[-_.]client[-_.] -m reg
    http-request del-header ^x[-_.](forwarded[-_.])?(tls[-_.])?client[-_.]?cert -m reg
    http-request del-header ^x[-_.]client[-_.] -m reg
    http-request del-header ^client[-_.]cert -m reg
    http-request del-header ^x[-_.]amzn[-_.]mtls[-_.] -m reg
    http-request del-header ^cloudfront[-_.]viewer[-_.]cert -m reg
    http-request del-header ^x[-_.]forwarded[-_.]clientcert -m reg
    http-request set-header X-SSL-Client-Verify      %[ssl_c_verify]
    http-request set-header X-SSL-Client-Used        %[ssl_c_used]
    http-request set-header X-SSL-Client-DN          %{{+Q}}[ssl_c_s_dn]
    http-request set-header X-SSL-Client-Issuer-DN   %{{+Q}}[ssl_c_i_dn]
    http-request set-header X-SSL-Client-Serial      %[ssl_c_serial,hex]
    http-request set-header X-SSL-Client-Fingerprint %[ssl_c_sha1,hex]
    http-request set-header X-SSL-Client-Cert        %[ssl_c_der,base64]
    default_backend echo
"""


@dataclass
class Run:
    label: str
    wall_s: float
    checks: int
    targets: int
    peak_rss_mb: float
    exit_code: int
    rows: list[tuple[str, str, str, str]]
    counts: dict[str, int]


def free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def wait_listening(ports: list[int], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"nothing listens on 127.0.0.1:{port} after {timeout:g}s") from None
                time.sleep(0.05)


@contextlib.contextmanager
def process(cmd: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``cmd``; stop it by its pid (TERM, then KILL) at the end of the block."""
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def publish_crls(crl_file: Path, root: Credential, suite_pool: KeyPool) -> None:
    """An empty CRL for every intermediate the suite will mint under ``root``, as an operator publishes one
    for every CA it issues: the listeners check CRLs for the whole chain (CRL_CHECK_ALL)."""
    materials = Materials(pool=suite_pool, client_ca=root)
    cas = [*catalogue.published_intermediates(materials), *published_fuzz_cas(suite_pool, root)]
    with crl_file.open("ab") as out:
        out.write(pem(*(make_crl(ca, []) for ca in cas)))


@contextlib.contextmanager
def fleet(work: Path, listeners: int, cache: Path) -> Iterator[Path]:
    """The running fleet; yields its inventory. Half the listeners on nginx, half on HAProxy."""
    nginx, haproxy = shutil.which("nginx") or "/usr/sbin/nginx", shutil.which("haproxy") or "/usr/sbin/haproxy"
    for binary in (nginx, haproxy):
        if not Path(binary).exists():
            raise SystemExit(f"needs {binary}")
    ports = free_ports(listeners + 1)
    backend, ports = ports[0], ports[1:]
    entries, nginx_blocks, haproxy_blocks = [], [], []
    suite_pool = KeyPool()  # the keys the suite mints with (the same on-disk cache as the pytest runs)
    strip = "\n".join(f'            proxy_set_header {h} "";' for h in NGINX_STRIP)
    for n, port in enumerate(ports):
        lb = "nginx" if n % 2 == 0 else "haproxy"
        d = work / f"l{n:03d}"
        pki = LabPKI.create(KeyPool(cache_dir=cache / f"l{n:03d}"))  # its own keys: its own client CA
        files = pki.write(d)
        publish_crls(files.crl, pki.client_root, suite_pool)
        ca = pki.client_root.write(d, "client-root-ca")
        ident = pki.identity.write(d, "client")
        revoked = pki.revoked.write(d, "revoked")
        if lb == "nginx":
            nginx_blocks.append(NGINX_LISTENER.format(port=port, d=d, name=LAB_SERVER_NAME, strip=strip))
        else:
            haproxy_blocks.append(HAPROXY_LISTENER.format(n=n, port=port, d=d, name=LAB_SERVER_NAME))
        entries.append("\n".join([
            "[[target]]", f'name = "{lb}-{n:03d}"', f'url = "https://127.0.0.1:{port}"',
            f'server_name = "{LAB_SERVER_NAME}"', f'alt_server_name = "{LAB_ALT_SERVER_NAME}"',
            f'server_ca = "{files.server_ca}"', f'client_ca_cert = "{files.client_ca}"', f'client_ca_key = "{ca.key}"',
            f'client_cert = "{ident.cert}"', f'client_key = "{ident.key}"',
            f'revoked_cert = "{revoked.cert}"', f'revoked_key = "{revoked.key}"',
            "echo_backend = true", f'profile = "{lb}"', ""]))
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    (work / "nginx.conf").write_text(NGINX_HEAD.format(work=work, backend=backend) + "".join(nginx_blocks) + "}\n")
    (work / "haproxy.cfg").write_text(HAPROXY_HEAD.format(backend=backend) + "".join(haproxy_blocks))
    inventory = work / "fleet.toml"
    inventory.write_text("\n".join(entries))
    echo = [sys.executable, "-m", "mtlsgate", "echo-backend", "--listen", f"127.0.0.1:{backend}", "--quiet"]
    with process(echo, work / "echo.log"), \
            process([nginx, "-p", f"{work}/", "-c", str(work / "nginx.conf"), "-g", "daemon off;"], work / "nginx.out"), \
            process([haproxy, "-db", "-f", str(work / "haproxy.cfg")], work / "haproxy.log"):
        wait_listening([backend, *ports])
        yield inventory


def pytest_run(label: str, inventory: Path, reports: Path, *extra: str) -> Run:
    """One ``pytest`` process over the fleet; wait4's rusage covers the workers it reaped (xdist): the largest one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    cmd = [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "-k", "not fuzz",
           f"--targets-file={inventory}", f"--reports-dir={reports}", *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    report = json.loads((reports / "mtlsgate.json").read_text())
    rows = sorted((c["target"], c["id"], c["tls_version"], c["verdict"]) for c in report["checks"])
    return Run(label, wall, len(rows), len(report["targets"]), usage.ru_maxrss / 1024,
               os.waitstatus_to_exitcode(status), rows, report["counts"])


def pytest_plugins(python: str) -> list[str]:
    """The pytest plugins ``python``'s environment installs (entry points): they all load at every start-up."""
    code = ("import importlib.metadata as m; print(' '.join(sorted({d.metadata['Name'] for d in m.distributions() "
            "for e in d.entry_points if e.group == 'pytest11'})))")
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.split()


def startup(repeat: int, python: str) -> float:
    """Median wall of ``pytest --co -q suites`` with ``python``, after one warm-up start.

    The warm-up writes the bytecode cache, as an installed wheel has it and any checkout
    after its first run: with ``PYTHONDONTWRITEBYTECODE=1`` and no cache, every start
    compiles mtlsgate again and pytest rewrites the suites' asserts again (~0.3 s more here).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    cmd = [python, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider", "suites"]
    subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)  # warm-up
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        walls.append(time.perf_counter() - started)
    return statistics.median(walls)


def import_time(repeat: int) -> float:
    """Median ``-X importtime`` total of ``import mtlsgate.plugin`` (what every pytest session imports), in s."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(ROOT)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    imports = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-X", "importtime", "-c", "import mtlsgate.plugin"], cwd=ROOT, env=env,
                             capture_output=True, text=True, check=True).stderr
        line = next(x for x in out.splitlines() if x.rstrip().endswith("| mtlsgate.plugin"))
        imports.append(int(line.split("|")[1]) / 1e6)
    return statistics.median(imports)


def merged_equals(inventory: Path, base: Path, whole: Run, shards: int) -> tuple[bool, float]:
    """A ``--shard K/N`` run per shard (one after another), merged: the same rows and counts as ``whole``?"""
    paths, wall = [], 0.0
    for k in range(1, shards + 1):
        run = pytest_run(f"shard {k}/{shards}", inventory, base / f"shard{k}", f"--shard={k}/{shards}")
        wall = max(wall, run.wall_s)
        paths.append(str(base / f"shard{k}" / "mtlsgate.json"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "mtlsgate", "merge", str(base / "merged"), *paths], cwd=ROOT, env=env,
                   stdout=subprocess.DEVNULL, check=False)
    merged = json.loads((base / "merged" / "mtlsgate.json").read_text())
    rows = sorted((c["target"], c["id"], c["tls_version"], c["verdict"]) for c in merged["checks"])
    return rows == whole.rows and merged["counts"] == whole.counts, wall


SSLYZE_SCAN = """
import collections, sys, time, tomllib
from sslyze import Scanner, ServerNetworkLocation, ServerScanRequest
targets = tomllib.loads(open(sys.argv[1]).read())["target"]
requests = [ServerScanRequest(server_location=ServerNetworkLocation(hostname=t["server_name"], ip_address="127.0.0.1",
            port=int(t["url"].rsplit(":", 1)[1])), scan_commands=set()) for t in targets]
started = time.perf_counter()
scanner = Scanner()
scanner.queue_scans(requests)
answers = [r.connectivity_result.client_auth_requirement.name if r.connectivity_result else "unreachable"
           for r in scanner.get_results()]
wall = time.perf_counter() - started
print(f"sslyze (client auth only, {len(targets)} targets): {wall:.1f} s, {wall / len(targets):.2f} s/target; "
      f"answers: {dict(collections.Counter(answers))}")
"""


def sslyze_side_by_side(inventory: Path, python: str | None) -> str:
    """sslyze's client-auth answer for every listener, in ``python`` (sslyze pins an older cryptography than
    mtlsgate needs, so it usually lives in a venv of its own), else here if importable."""
    if python is None and importlib.util.find_spec("sslyze") is None:
        return "sslyze is not installed (--sslyze-python PATH: a venv with `pip install sslyze`): no side-by-side figure"
    done = subprocess.run([python or sys.executable, "-c", SSLYZE_SCAN, str(inventory)], capture_output=True,
                          text=True, timeout=600, check=False)
    return done.stdout.strip() or f"sslyze failed: {done.stderr.strip().splitlines()[-1:]}"


def print_startup(repeat: int, pythons: list[str]) -> None:
    print(f"start-up, `pytest --co -q suites` (median of {repeat}; load average {os.getloadavg()[0]:.1f}):")
    for python in pythons:
        plugins = ", ".join(pytest_plugins(python))
        print(f"- {python}: {startup(repeat, python):.2f} s (its pytest plugins: {plugins})")
    print(f"- import mtlsgate.plugin: {import_time(repeat) * 1000:.0f} ms (-X importtime, median)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listeners", type=int, default=50, help="listeners in the fleet (even; default 50)")
    parser.add_argument("--repeat", type=int, default=7, help="start-up measurements (median)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each mode, taking turns (median; default 3)")
    parser.add_argument("--skip-sequential", action="store_true", help="skip the (slow) sequential run")
    parser.add_argument("--startup-only", action="store_true", help="measure start-up only (no fleet)")
    parser.add_argument("--sslyze-python", default=None, metavar="PATH",
                        help="an interpreter with sslyze installed (its own venv: sslyze pins an older cryptography)")
    parser.add_argument("--python", action="append", default=None, metavar="PATH",
                        help="interpreter(s) to measure start-up with, e.g. a fresh venv's with only `pip install -e .` "
                             "(repeatable; default: this one)")
    args = parser.parse_args()
    load_before = os.getloadavg()
    if args.startup_only:
        print_startup(args.repeat, args.python or [sys.executable])
        return 0
    with tempfile.TemporaryDirectory(prefix="mtlsgate-fleet-") as tmp:
        base = Path(tmp)
        cache = Path(os.environ.get("MTLSGATE_FLEET_CACHE", Path(tempfile.gettempdir()) / "mtlsgate-fleet-keys"))
        with fleet(base / "fleet", args.listeners, cache) as inventory:
            modes = [("parallel (default: 4 per target, 8 overall)", base / "par", ()),
                     ("parallel, -n 2 (a target per worker)", base / "xdist", ("-n", "2")),
                     ("parallel, --jobs 2 (two shard processes, merged)", base / "jobs", ("--jobs", "2"))]
            if not args.skip_sequential:
                modes.insert(0, ("sequential (--per-target-connections 1)", base / "seq",
                                 ("--per-target-connections=1",)))
            # The modes take turns, run after run, so that a noisy spell of a shared machine
            # falls on all of them; each mode's median run is shown, with its range.
            every: dict[str, list[Run]] = {label: [] for label, _, _ in modes}
            for _ in range(args.runs):
                for label, reports, extra in modes:
                    every[label].append(pytest_run(label, inventory, reports, *extra))
            runs = [sorted(every[label], key=lambda r: r.wall_s)[(args.runs - 1) // 2] for label, _, _ in modes]
            spread = {label: (min(r.wall_s for r in done), max(r.wall_s for r in done)) for label, done in every.items()}
            reference = runs[0]
            all_same = {label: all(r.rows == reference.rows for r in done) for label, done in every.items()}
            same_merge, shard_wall = merged_equals(inventory, base / "shards", runs[-1], 3)
            sslyze = sslyze_side_by_side(inventory, args.sslyze_python)
    load_after = os.getloadavg()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after")
    print(f"fleet: {args.listeners} listeners (nginx and HAProxy, {args.listeners // 2} each), every one its own "
          "client CA; the whole non-fuzz suite over all of them")
    print()
    print(f"| run ({args.runs} each, median) | wall | range | targets/min | checks/s | peak RSS (largest process) "
          f"| exit | verdicts = {reference.label.split(' (')[0]} (every run) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in runs:
        low, high = spread[run.label]
        print(f"| {run.label} | {run.wall_s:.1f} s | {low:.1f}–{high:.1f} s | {run.targets / run.wall_s * 60:.0f} "
              f"| {run.checks / run.wall_s:.0f} | {max(r.peak_rss_mb for r in every[run.label]):.0f} MB "
              f"| {run.exit_code} | {'yes' if all_same[run.label] else 'NO'} |")
    print()
    print(f"checks per run: {reference.checks} over {reference.targets} targets; counts {reference.counts}")
    print(f"3 shards run one after another (slowest {shard_wall:.1f} s), merged with mtlsgate merge: "
          f"{'equal to' if same_merge else 'DIFFERENT from'} the unsharded report")
    print_startup(args.repeat, args.python or [sys.executable])
    print(sslyze)
    return 0


if __name__ == "__main__":
    sys.exit(main())

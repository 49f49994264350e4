"""The pytest plugin: options, the ``gate`` fixture, preflight before the first check, reports.

Suites stay declarative — ``gate.check("reject.expired")`` — and every check is
parametrized here over the targets and TLS versions of the run.

pytest loads this module in every session (the entry point), so it imports the layers
below inside its hooks, and they import the heavy libraries (httpx, Hypothesis,
tlslite-ng, pyOpenSSL, trustme) only where a check uses them: start-up pays for none of it.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import json
import math
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .cmdline import DeferredInterrupt, misrooted, reroot, stray_option
from .errors import UNTESTABLE_TARGET, UntestableTarget, UsageError

if TYPE_CHECKING:
    from .gate import CheckRecord, Gate
    from .report import ReportsLock, RunInfo
    from .targets import TargetSpec

GATE_KEY = pytest.StashKey["RunState"]()
RECORD_PROPERTY = "mtlsgate"
ABORT_PROPERTY = "mtlsgate-aborted"
LOADGROUP_INPUT = "mtlsgate-loadgroup"  # xdist workerinput: the controller distributes by target
UNTESTABLE_PROPERTY = "mtlsgate-untestable"  # a fleet's target that could not be tested: [name, line]


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


class PolicyWarning(UserWarning):
    """A policy-dependent check (e.g. a CA certificate as leaf) was accepted; the profile allows it."""


def pytest_addoption(parser: pytest.Parser) -> None:
    from .fuzz import FUZZ_PROFILES as PROFILES
    from .fuzz import MAX_EXAMPLES
    from .judge import IDENTITY_KINDS
    from .targets import MUTANTS
    from .wire import DEFAULT_RETRIES, TRANSPORTS

    g = parser.getgroup("mtlsgate", "mtlsgate: mutual-TLS conformance")
    g.addoption("--target", action="append", default=None, metavar="TARGET",
                help="reference (default), local:<nginx|haproxy|apache|caddy|traefik>, or an https:// URL; repeatable")
    g.addoption("--server-name", default=None, help="SNI and Host for the target (default: the URL's host)")
    g.addoption("--server-ca", default=None, type=Path, help="PEM file that verifies the target's certificate")
    g.addoption("--server-ca-key", default=None, type=Path, metavar="FILE",
                help="the server CA's private key (with --server-ca): reject.server-ca-issued runs")
    g.addoption("--client-ca-cert", default=None, type=Path, help="the CA certificate the target trusts for clients")
    g.addoption("--client-ca-key", default=None, type=Path, help="its private key: lets the suite mint every variant")
    g.addoption("--client-cert", default=None, type=Path, help="a valid client certificate (leaf first, then chain)")
    g.addoption("--client-key", default=None, type=Path, help="its private key")
    g.addoption("--revoked-cert", default=None, type=Path, help="a client certificate the target's CRL revokes")
    g.addoption("--revoked-key", default=None, type=Path, help="its private key")
    g.addoption("--kit", default=None, type=Path, metavar="DIR",
                help="trust material from a kit made by `mtlsgate kit` (kit.json); with local:<lb>, "
                     "the LB is provisioned with the kit instead of the lab PKI")
    g.addoption("--alt-server-name", default=None, metavar="NAME",
                help="a name the same listener serves without client auth (bypass checks; default: a random *.invalid)")
    g.addoption("--echo-backend", action="store_true", default=False,
                help="the target forwards to `mtlsgate echo-backend`: the header checks run")
    g.addoption("--profile", default=None,
                help="expectation profile: a name in fixtures/profiles/, a .toml file, or auto (recognise the "
                     "product from its answers and use its profile; the default for https:// targets)")
    g.addoption("--identity-header", action="append", default=[], metavar="NAME[=FORMAT]",
                help="a header the LB sets with the client's identity (repeatable); FORMAT: "
                     f"{', '.join(IDENTITY_KINDS)} (default any). The header checks also find them by themselves")
    g.addoption("--tls-version", action="append", choices=TRANSPORTS, default=None,
                help="TLS version(s) to test: 1.2, 1.3, quic (default: all three; quic runs where the target "
                     "announces HTTP/3, else its cases are skipped)")
    g.addoption("--quic", action="store_true", default=False,
                help="probe QUIC (HTTP/3) even when the target does not announce it with Alt-Svc h3")
    g.addoption("--probe-timeout", type=float, default=5.0,
                help="seconds for each connect, handshake and read (a whole probe: twice that)")
    g.addoption("--probe-retries", type=int, default=DEFAULT_RETRIES,
                help="retries of a connection refused or reset before the TLS handshake (0-5)")
    g.addoption("--max-duration", type=float, default=900.0,
                help="seconds for the whole run; checks not started by then are reported as not run")
    g.addoption("--reports-dir", type=Path, default=Path("reports"), help="where reports are written")
    g.addoption("--report-formats", default="json,junit,summary,html", metavar="LIST",
                help="which reports to write into --reports-dir: a comma-separated subset of json (mtlsgate.json), "
                     "junit (junit.xml), summary (summary.md) and html (index.html); default all")
    g.addoption("--reference-mutant", default=None, choices=sorted(MUTANTS),
                help="run the reference target with one deliberate mistake (to see the suite catch it)")
    g.addoption("--waivers", type=Path, default=None, metavar="FILE",
                help="TOML file of accepted failures (check, tls_version, target, reason, owner, expires)")
    g.addoption("--baseline", type=Path, default=None, metavar="OLD.json",
                help="an earlier mtlsgate.json: the summary lists regressions and fixes against it")
    g.addoption("--live-status", choices=("auto", "on", "off"), default="auto",
                help="one status line of checks done/remaining per target (auto: only on a terminal)")
    g.addoption("--fuzz-profile", default="ci", choices=sorted(PROFILES),
                help="Hypothesis profile of fuzz.oracle-agreement: ci (default: derandomized, 25 examples per TLS "
                     "version), dev (100, random), thorough (1000, random)")
    g.addoption("--require-all", action="store_true", default=False,
                help="a check that does not decide (skipped, unsupported) fails the run: for gates on full coverage")
    g.addoption("--fuzz-examples", default=None, metavar="N",
                help=f"examples per target and TLS version (1-{MAX_EXAMPLES}; overrides the profile's count)")
    _add_fleet_options(g)


def _add_fleet_options(g: Any) -> None:
    """Fleet audits: many targets from one inventory, a shard of it, connections per target."""
    g.addoption("--targets-file", default=None, type=Path, metavar="FLEET.toml",
                help="an inventory of targets, each [[target]] with its own url, server_name, server_ca, client CA "
                     "or client cert, profile... (paths relative to the file); instead of --target")
    g.addoption("--jobs", default="1", metavar="N",
                help="audit the targets in N pytest processes at once, each a --shard of them, and merge their "
                     "reports into --reports-dir (auto: one per CPU); for a fleet, cheaper than -n N, which ships "
                     "every check between processes")
    g.addoption("--shard", default=None, metavar="K/N",
                help="run only shard K of N of the targets (deterministic, by name); merge the shards' reports "
                     "with `mtlsgate merge`")
    g.addoption("--per-target-connections", type=int, default=4, metavar="N",
                help="probe up to N of a target's independent checks at once (1: one at a time; default 4); "
                     "resumption and fuzz checks always run alone")
    g.addoption("--connections", type=int, default=8, metavar="N",
                help="probe connections at once over all targets of this process (default 8)")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str], parser: pytest.Parser) -> None:
    """``--server-ca /abs/ca.crt`` works like ``--server-ca=/abs/ca.crt``: see mtlsgate/cmdline.py."""
    reroot(early_config, args)
    if (line := stray_option(early_config, args)) is not None:
        raise pytest.UsageError(line)


def pytest_configure(config: pytest.Config) -> None:
    from .report import LiveStatus

    config.addinivalue_line("markers", "mtlsgate: a conformance check of mtlsgate")
    _keep_targets_on_one_worker(config)
    if not _is_xdist_worker(config) and (line := misrooted(config)) is not None:
        raise pytest.UsageError(line)
    try:
        state = RunState(config)
    except pytest.UsageError:
        if config.option.debug:  # pytest's own --debug: show where the bad input was found
            traceback.print_exc()
        raise
    config.stash[GATE_KEY] = state
    # Registered before pytest's own cleanups (this plugin loads after them), so it runs after them.
    config.add_cleanup(lambda: gc.unfreeze() if state.heap_frozen else None)
    config.pluginmanager.register(RunHooks(state), "mtlsgate-run")
    if not _is_xdist_worker(config):
        config.pluginmanager.register(LiveStatus(config, state.targets, state.versions), "mtlsgate-live-status")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Collect once, then freeze what is left of the run's heap, until the process exits.

    After the last check pytest collects garbage five times over (to surface a finalizer's
    unraisable exception), and the interpreter once more at exit: over a fleet's records,
    credentials and reports that was ~1.3 s of every process's tail, the controller's after
    the workers'. One collection still runs every finalizer due; the survivors are frozen
    (not scanned again). The cleanup pytest_configure registered gives them back to the
    collector after pytest's rounds, for a session run inside another (pytester); ``gc.freeze``
    at exit skips the interpreter's last scan.
    """
    state = session.config.stash.get(GATE_KEY, None)
    if state is None or not (state.active or state.records):
        return  # not an mtlsgate run: the heap is someone else's
    gc.collect()
    gc.freeze()
    state.heap_frozen = True
    atexit.unregister(gc.freeze)  # once, however many sessions this process runs
    atexit.register(gc.freeze)


def pytest_unconfigure(config: pytest.Config) -> None:
    DeferredInterrupt.release()  # a run that never started a session (--help, a usage error) gets the defaults back
    state = config.stash.get(GATE_KEY, None)
    if state is not None:
        try:
            state.close()
        finally:
            if state.previous_sigterm is not None:
                signal.signal(signal.SIGTERM, state.previous_sigterm)
            if threading.current_thread() is threading.main_thread() and \
                    getattr(signal.getsignal(signal.SIGINT), "__qualname__", "").startswith(("_remember_sigint",
                                                                                           "_hold_late_signals")):
                signal.signal(signal.SIGINT, signal.default_int_handler)
            if state.late_signal is not None:
                print(f"mtlsgate: {state.late_signal} after the reports were written: the run had finished; "
                      "its reports and exit code stand", file=sys.stderr)
            if state.signal_seen is not None:
                _forget_caught_interrupt()


def _forget_caught_interrupt() -> None:
    """Undo CPython's note that a KeyboardInterrupt went unhandled, for the one pytest did handle.

    A KeyboardInterrupt our handlers raise lands wherever the main thread is. When that is
    inside code run by ``exec`` of a string (``dataclasses`` builds each ``__init__`` so: a
    lazy import such as ``h2.events`` in the preflight), CPython (3.8 to at least 3.13,
    ``run_eval_code_obj``) sets its "unhandled KeyboardInterrupt" flag as the exception leaves
    the ``exec`` — although pytest catches it further up, writes the INCOMPLETE report and
    returns exit 2. Under ``python -m pytest`` / ``python -m mtlsgate`` the interpreter checks
    that flag after the module returned and kills itself with SIGINT: exit -2 (130 in a
    shell) after a complete report, about one run in ten. The same function clears the flag
    each time it starts, so an ``exec`` of nothing, once the interrupt has been handled,
    clears it; a KeyboardInterrupt that really escapes pytest afterwards still sets it again.
    """
    exec("")


def _remember_sigint(state: RunState) -> None:
    """Ctrl-C is also remembered, not only raised: a KeyboardInterrupt raised inside a C callback
    (pyOpenSSL's handshake callback, through cffi) is swallowed there, and the run went on to a
    full, green report. :meth:`CheckRunner.check` raises a remembered signal again."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return

    def interrupt(signum: int, frame: Any) -> None:
        state.signal_seen = state.signal_seen or signal.Signals(signum).name
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGINT, interrupt)


def _hold_late_signals(state: RunState) -> None:
    """After the reports are written, Ctrl-C or SIGTERM is noted, not raised, until the run has cleaned up.

    The reports then say what happened, and pytest's exit code must agree with them: a
    KeyboardInterrupt in the terminal summary or while the local LBs stop used to end a run
    whose report said PASSED with exit 2 (or death by SIGINT). Stopping LBs and removing
    temporary files is bounded, and the process ends right after it.
    """
    if threading.current_thread() is not threading.main_thread():
        return

    def note(signum: int, frame: Any) -> None:
        state.late_signal = state.late_signal or signal.Signals(signum).name

    note.__qualname__ = "_hold_late_signals.note"
    if getattr(signal.getsignal(signal.SIGINT), "__qualname__", "").startswith("_remember_sigint"):
        signal.signal(signal.SIGINT, note)
    if state.previous_sigterm is not None:  # SIGTERM is ours (_sigterm_as_interrupt), to give back at unconfigure
        signal.signal(signal.SIGTERM, note)


def _sigterm_as_interrupt(state: RunState | None = None) -> Any:
    """Make SIGTERM end the run like Ctrl-C: LBs stopped, temp dirs removed, partial report written.

    Python's default SIGTERM kills the process without running ``finally`` blocks. The
    first SIGTERM raises KeyboardInterrupt; later ones are ignored so the cleanup finishes.
    Returns the previous handler (restored at unconfigure), or None if none was installed.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return None  # someone (xdist, a CI wrapper) already decided what SIGTERM means

    def interrupt(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if state is not None:
            state.signal_seen = state.signal_seen or signal.Signals(signum).name
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    signal.signal(signal.SIGTERM, interrupt)
    return previous


class RunState:
    """Per-session state: options parsed on first use, the gate, the collected records."""

    def __init__(self, config: pytest.Config) -> None:
        from .fuzz import MAX_EXAMPLES, FuzzOptions
        from .judge import load_profile
        from .kit import load_kit
        from .report import load_report
        from .report import waivers as waiver_file
        from .targets import TargetOptions, external_target, parse_identity_header
        from .wire import TRANSPORTS

        self.config = config
        self.records: list[dict[str, Any]] = []
        self.heap_frozen = False  # see pytest_sessionfinish
        self.gate: Gate | None = None
        self.aborted: str | None = None
        self.started = time.time()
        self.workdir: Path | None = None
        self.active = False
        self.previous_sigterm: Any = None
        self.pending_signal: str | None = None  # a signal that came during start-up (DeferredInterrupt)
        self.signal_seen: str | None = None  # SIGINT/SIGTERM during the session (raised again if swallowed)
        self.late_signal: str | None = None  # SIGINT/SIGTERM after the reports were written (see _hold_late_signals)
        self.announced = False  # the abort line was already printed
        self.plans: dict[str, list[tuple[str, str]]] | None = None  # per target: the checks the items ask for
        self.left: dict[str, int] | None = None  # per target: checks not reported yet (see _count_down)
        self.untestable: dict[str, str] = {}  # a fleet's targets that could not be tested, with their line
        self.check_ids: dict[Any, tuple[str, ...]] = {}  # per test function: its gate.check ids (_check_ids)
        opt = config.option
        try:
            kit = load_kit(opt.kit) if opt.kit is not None else None
            self.options = TargetOptions(
                server_name=opt.server_name, server_ca=opt.server_ca, server_ca_key=opt.server_ca_key,
                client_ca_cert=opt.client_ca_cert,
                client_ca_key=opt.client_ca_key, client_cert=opt.client_cert, client_key=opt.client_key,
                revoked_cert=opt.revoked_cert, revoked_key=opt.revoked_key, kit=kit,
                alt_server_name=opt.alt_server_name, echo_backend=opt.echo_backend,
                identity_headers=tuple(parse_identity_header(h) for h in opt.identity_header))
            self.targets, self.specs, self.shard = _select_targets(opt)
            if kit is not None and "reference" in self.targets:
                raise UsageError("--kit needs --target local:<lb> (provisioned with the kit) or --target https://...; "
                                 "the reference target uses its own PKI")
            # No --profile (or auto): each target uses its own (local:caddy -> caddy.toml); an
            # https:// target's product is recognised from its answers (default if unrecognised).
            self.profile = load_profile(opt.profile) if opt.profile and opt.profile != "auto" else None
            for spec in self.targets:
                if spec.startswith("https:") and spec not in self.specs:
                    external_target(spec, self.options, "default")  # reads and checks the files now
            _check_numbers(opt)
            _check_writable(opt.reports_dir)
            self.report_formats = _report_formats(opt.report_formats)
        except UsageError as exc:
            if opt.debug:
                traceback.print_exc()
            raise pytest.UsageError(str(exc)) from None
        try:
            self.waivers = waiver_file.load(opt.waivers) if opt.waivers else ()
            self.baseline = load_report(opt.baseline, "--baseline") if opt.baseline else None
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.versions = tuple(v for v in TRANSPORTS if v in set(opt.tls_version or TRANSPORTS))
        examples = opt.fuzz_examples
        if examples is not None and (not str(examples).isdigit() or not 1 <= int(examples) <= MAX_EXAMPLES):
            raise pytest.UsageError(f"--fuzz-examples must be a whole number between 1 and {MAX_EXAMPLES}")
        self.fuzz = FuzzOptions(profile=opt.fuzz_profile, examples=int(examples) if examples is not None else None,
                                repro_dir=(opt.reports_dir / "repro").absolute(),
                                replay_flags={t: replay_flags(config, t, self.specs.get(t)) for t in self.targets})

    def ensure_gate(self) -> Gate:
        from .gate import Gate
        from .pki import KeyPool
        from .targets import MUTANTS

        if self.gate is None:
            opt = self.config.option
            self.workdir = Path(tempfile.mkdtemp(prefix="mtlsgate-"))
            self.gate = Gate(target_specs=self.targets, options=self.options, profile=self.profile, workdir=self.workdir,
                             pool=KeyPool(), tls_versions=self.versions, probe_timeout=opt.probe_timeout,
                             reference_policy=MUTANTS[opt.reference_mutant] if opt.reference_mutant else None,
                             max_duration=opt.max_duration, retries=opt.probe_retries, fuzz=self.fuzz,
                             force_quic=opt.quic, specs=self.specs, isolate_targets=opt.targets_file is not None)
        return self.gate

    def close(self) -> None:
        if self.gate is not None:
            self.gate.close()
            self.gate = None
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    @property
    def profile_name(self) -> str:
        if self.profile is not None:
            return self.profile.name
        names = sorted({r["profile"] for r in self.records})  # per target; the records know (also under xdist)
        return ", ".join(names) or "default"

    def target_infos(self) -> list[dict[str, Any]]:
        infos = []
        for spec in self.targets:
            st = self.gate.states.get(spec) if self.gate else None
            info: dict[str, Any] = {"name": spec}
            if spec in self.specs and self.specs[spec].url != spec:
                info["url"] = self.specs[spec].url
            if spec in self.untestable:
                info["untestable"] = self.untestable[spec]
            if st is not None:
                t = st.target
                info.update(kind=t.kind, endpoint=f"{t.endpoint.host}:{t.endpoint.port}", server_name=t.server_name,
                            description=t.description, can_mint=t.can_mint, profile=st.profile.name, **t.extra,
                            **({"product": st.detection.to_dict()} if st.detection else {}),
                            ca_names={v: list(b.advertised_names) for v, b in st.baselines.items()
                                      if b.advertised_names is not None})
            infos.append(info)
        return infos


def _select_targets(opt: Any) -> tuple[list[str], dict[str, TargetSpec], dict[str, Any] | None]:
    """The run's target names, the inventory entries by name, and the shard (for the report).

    ``--targets-file`` replaces ``--target`` and the trust flags: each entry has its own.
    ``--shard K/N`` keeps a deterministic 1/N of whichever list was given.
    """
    from .targets import TargetSpec, load_inventory, parse_shard, shard, validate_spec

    specs: dict[str, TargetSpec] = {}
    if opt.targets_file is not None:
        if opt.target:
            raise UsageError("--targets-file and --target: give one or the other (add the target to the file)")
        for flag in ("server_name", "server_ca", "client_ca_cert", "client_ca_key", "client_cert", "client_key",
                     "revoked_cert", "revoked_key", "alt_server_name", "kit"):
            if getattr(opt, flag) is not None:
                raise UsageError(f"--{flag.replace('_', '-')} applies to --target; with --targets-file each entry "
                                 f"has its own {flag}")
        if opt.echo_backend:
            raise UsageError("--echo-backend applies to --target; with --targets-file each entry has its own "
                             "echo_backend")
        specs = {s.name: s for s in load_inventory(opt.targets_file)}
        names = list(specs)
    else:
        names = [validate_spec(t) for t in (opt.target or ["reference"])]
    if opt.shard is None:
        return names, specs, None
    k, n = parse_shard(opt.shard)
    everyone = [TargetSpec(name=t, url=t) for t in dict.fromkeys(names)]
    mine = [s.name for s in shard(everyone, k, n)]
    if not mine:
        raise UsageError(f"--shard {opt.shard}: shard {k} of {n} has no target ({len(everyone)} targets in all); "
                         f"use at most {len(everyone)} shards")
    info = {"index": k, "count": n, "targets": [t.name for t in everyone]}  # the whole list, in its order
    return mine, {t: specs[t] for t in mine if t in specs}, info


def _check_numbers(opt: Any) -> None:
    """Timeouts that are not finite positive numbers would make the run unbounded or instant."""
    if not (math.isfinite(opt.probe_timeout) and 0 < opt.probe_timeout <= 120):
        raise UsageError(f"--probe-timeout {opt.probe_timeout}: expected seconds, more than 0 and at most 120")
    if not (math.isfinite(opt.max_duration) and 0 < opt.max_duration <= 86400):
        raise UsageError(f"--max-duration {opt.max_duration}: expected seconds, more than 0 and at most 86400")
    if not 0 <= opt.probe_retries <= 5:
        raise UsageError(f"--probe-retries {opt.probe_retries}: expected 0 to 5")
    if not 1 <= opt.per_target_connections <= 64:
        raise UsageError(f"--per-target-connections {opt.per_target_connections}: expected 1 to 64")
    if not 1 <= opt.connections <= 256:
        raise UsageError(f"--connections {opt.connections}: expected 1 to 256")


def _report_formats(value: str) -> tuple[str, ...]:
    from .report import REPORT_FORMATS

    chosen = tuple(dict.fromkeys(f.strip() for f in value.split(",") if f.strip()))
    unknown = [f for f in chosen if f not in REPORT_FORMATS]
    if unknown or not chosen:
        raise UsageError(f"--report-formats {value}: expected a comma-separated list of {', '.join(REPORT_FORMATS)}")
    return chosen


def _check_writable(directory: Path) -> None:
    """Fail now, in one line, rather than after the whole run when the reports cannot be written.

    Nothing is created here: the nearest existing ancestor must be a writable directory.
    """
    path = Path(os.path.abspath(directory))
    while not path.exists() and path != path.parent:
        if path.is_symlink():
            raise UsageError(f"--reports-dir {directory}: {path} is a dangling symlink")
        path = path.parent
    if not path.is_dir():
        raise UsageError(f"--reports-dir {directory}: {path} is not a directory")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"--reports-dir {directory}: {path} is not writable")


def _keep_targets_on_one_worker(config: pytest.Config) -> None:
    """Under ``-n N``, xdist's default ``--dist load`` spreads a target's checks over every worker,
    and each worker would start and preflight every target. ``loadgroup`` with one group per
    target (see pytest_collection_modifyitems) keeps a target on one worker: N targets at once.
    """
    if getattr(config.option, "dist", "no") == "load" and not _is_xdist_worker(config):
        config.option.dist = "loadgroup"


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """``--jobs N``: this process starts the shards and merges their reports instead of running a session."""
    opt = config.option
    if getattr(opt, "jobs", "1") == "1" or _is_xdist_worker(config) or opt.help or opt.version or opt.collectonly \
            or getattr(opt, "showfixtures", False) or getattr(opt, "show_fixtures_per_test", False) \
            or getattr(opt, "markers", False):
        return None
    from .scheduling import parse_jobs, run_shards

    try:
        jobs = parse_jobs(opt.jobs)
        if jobs < 2:
            return None
        if opt.shard is not None:
            raise UsageError("--jobs and --shard: --jobs runs the shards itself (give --shard to run one of them)")
        if getattr(opt, "numprocesses", None):
            raise UsageError("--jobs and -n: choose one (--jobs splits the targets over processes, -n the checks)")
        if getattr(opt, "xmlpath", None):  # each shard would write its part over the others'
            raise UsageError("--jobs and --junitxml: the merged JUnit report is <reports-dir>/junit.xml")
        names, _, _ = _select_targets(opt)
        if len(names) < 2:
            return None  # one target: one process (its checks still run in parallel)
        _check_writable(opt.reports_dir)
        formats = _report_formats(opt.report_formats)
        return run_shards(config, jobs, len(names), formats, DeferredInterrupt.release())
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any | None:
    """``loadgroup`` (a target per worker) with bookkeeping that stays cheap over a fleet's items."""
    if getattr(config.option, "dist", "no") != "loadgroup":
        return None
    from .scheduling import target_scheduler

    return target_scheduler(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist's controller, per worker: whether the run groups a target's checks on one worker."""
    node.workerinput[LOADGROUP_INPUT] = getattr(node.config.option, "dist", "no") == "loadgroup"


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the xdist_group marks into node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A fleet's items target by target, and one xdist group per target (under xdist's ``loadgroup``).

    pytest orders items test function by test function, so the first check alone would
    visit all 50 targets of a fleet before the second check ran: every target was started
    at once, each with its own connections, instead of ``--connections`` over two or three
    targets at a time. Within a target the suite's order stays (a stable sort).
    """
    state = config.stash.get(GATE_KEY, None)
    if state is not None and len(state.targets) > 1:
        rank = {spec: n for n, spec in enumerate(state.targets)}
        items.sort(key=lambda item: rank.get(_target_of(item), -1))
    # A worker of xdist parses only the command line (dist "no" unless --dist was typed): the controller
    # tells it (pytest_configure_node), and xdist's own hook, after this one, suffixes the node ids.
    on_worker = bool(getattr(config, "workerinput", {}).get(LOADGROUP_INPUT))
    if on_worker:
        config.option.loadgroup = True
    if not (on_worker or getattr(config.option, "dist", "no").startswith("loadgroup")):
        return
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "gate" in callspec.params:
            item.add_marker(pytest.mark.xdist_group(f"mtlsgate:{callspec.params['gate'][0]}"))


def _target_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params["gate"][0] if callspec is not None and "gate" in callspec.params else None


def _check_ids(function: Any, cache: dict[Any, tuple[str, ...]]) -> tuple[str, ...]:
    """The ``gate.check("<id>")`` literals in a suite's test function (what it will run), from its source."""
    if function in cache:
        return cache[function]
    import ast
    import inspect
    import textwrap

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        tree = None
    ids = _gate_check_literals(tree) if tree is not None else ()
    cache[function] = ids
    return ids


def _gate_check_literals(tree: Any) -> tuple[str, ...]:
    """The ids of the ``gate.check("<id>")`` calls under an AST node, in source order."""
    import ast

    return tuple(n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "check" and isinstance(n.func.value, ast.Name)
                 and n.func.value.id == "gate" and n.args and isinstance(n.args[0], ast.Constant)
                 and isinstance(n.args[0].value, str))


def check_plans(items: list[pytest.Item]) -> dict[str, list[tuple[str, str]]]:
    """Per target, in run order: the (TLS version, check id) pairs the collected items will ask for."""
    plans: dict[str, list[tuple[str, str]]] = {}
    cache: dict[Any, tuple[str, ...]] = {}
    for item in items:
        callspec = getattr(item, "callspec", None)
        function = getattr(item, "function", None)
        if callspec is None or function is None or "gate" not in callspec.params:
            continue
        spec, version = callspec.params["gate"]
        plans.setdefault(spec, []).extend((version, check_id) for check_id in _check_ids(function, cache))
    return plans


def _run_ahead(state: RunState, gate: Gate, spec: str, items: list[pytest.Item]) -> None:
    """Start ``spec``'s independent checks (and, outside xdist, the next targets') on their connections.

    ``--per-target-connections`` threads per target, at most ``--connections`` over the
    targets in flight; a worker of xdist only ever runs ahead on the target it is on.
    """
    opt = state.config.option
    if opt.per_target_connections < 2:
        return
    plans = _plans(state, items)
    order = list(plans)
    if spec not in order:
        return
    ahead = 1 if _is_xdist_worker(state.config) else max(1, opt.connections // opt.per_target_connections)
    at = order.index(spec)
    for other in order[at:at + ahead]:
        if other in gate.states or other == spec:  # the others were preflighted already (or are not ours)
            gate.prefetch(other, plans[other], min(opt.per_target_connections, opt.connections))


def _plans(state: RunState, items: list[pytest.Item]) -> dict[str, list[tuple[str, str]]]:
    """The run's check plans (see check_plans), read from the items once."""
    if state.plans is None:
        state.plans = check_plans(items)
    return state.plans


def _count_down(state: RunState, gate: Gate, spec: str, items: list[pytest.Item]) -> None:
    """After a fleet target's last check, :meth:`Gate.finish` lets its connections and memory go.

    Only an optimisation: a check that still came for the target would build what it needs again.
    """
    if state.left is None:
        state.left = {name: len(plan) for name, plan in _plans(state, items).items()}
    if len(state.left) > 1 and spec in state.left:
        state.left[spec] -= 1
        if state.left[spec] == 0:
            gate.finish(spec)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gate" not in metafunc.fixturenames:
        return
    state: RunState = metafunc.config.stash[GATE_KEY]
    params, ids = [], []
    for spec in state.targets:
        for version in state.versions:
            params.append((spec, version))
            ids.append(_param_id(state, spec, version))
    metafunc.parametrize("gate", params, ids=ids, indirect=True)


class CheckRunner:
    """What a suite's test sees: ``gate.check(check_id)`` runs, judges and records one check."""

    def __init__(self, state: RunState, spec: str, tls_version: str, node: pytest.Item) -> None:
        self._state = state
        self.target = spec
        self.tls_version = tls_version
        self._node = node

    def check(self, check_id: str) -> CheckRecord:
        from .gate import describe_check
        from .judge import FAIL, INCONCLUSIVE, PASS, SKIP, UNSUPPORTED, WARN
        from .report import DECISIVE, NOT_APPLICABLE
        from .report import waivers as waiver_file

        describe_check(check_id)  # an unknown id is a bug in the suite, not a skip
        if self._state.signal_seen is not None:  # the interrupt was swallowed by a C callback: stop now
            raise KeyboardInterrupt(f"signal {self._state.signal_seen}")
        gate_stopped = self._state.gate is not None and self._state.gate.aborted
        if self._state.aborted and not gate_stopped:  # only under xdist: a worker's preflight stopped the run
            self._node.user_properties.append((ABORT_PROPERTY, self._state.aborted))
            pytest.skip(f"run stopped: {self._state.aborted}")
        gate = self._state.ensure_gate()
        if _is_xdist_worker(self._state.config) and self._start_on_worker(gate):
            self._node.user_properties.append((ABORT_PROPERTY, self._state.aborted or ""))
            pytest.skip(f"run stopped: {self._state.aborted}")
        _run_ahead(self._state, gate, self.target, self._node.session.items)
        record = gate.run_check(self.target, self.tls_version, check_id)
        _count_down(self._state, gate, self.target, self._node.session.items)
        if record.observed == "not run" and (gate.aborted or record.target in gate.untestable):
            # a row the run stopped before: one that never runs over this transport is still not applicable
            never = never_runs(check_id, self.tls_version, self.target, unsupported_transports(gate, []))
            if never is not None:
                record = dataclasses.replace(record, observed=NOT_APPLICABLE, reason=never)
        row = record.to_dict()
        where = f"{check_id} [{_transport_label(self.tls_version)}] on {record.target}"
        if gate.aborted:  # the target died or the time ran out: this and every later check is not run
            self._node.user_properties.append((RECORD_PROPERTY, json.dumps(row)))
            self._node.user_properties.append((ABORT_PROPERTY, gate.aborted))
            if self._state.aborted is None:
                self._state.aborted = gate.aborted  # said once, in the terminal summary
            pytest.skip(f"{where}: {record.reason}")
        if record.target in gate.untestable:  # a fleet: this target could not be tested, the others go on
            self._node.user_properties.append((RECORD_PROPERTY, json.dumps(row)))
            self._node.user_properties.append((UNTESTABLE_PROPERTY, json.dumps([record.target,
                                                                                 gate.untestable[record.target]])))
            self._state.untestable.setdefault(record.target, gate.untestable[record.target])
            pytest.skip(f"{where}: {record.reason}")
        waiver = waiver_file.find(self._state.waivers, row) if record.verdict == FAIL else None
        if waiver is not None and not waiver.expired(waiver_file.today()):
            row.update(verdict="waived", waiver=waiver.to_dict())
            self._node.user_properties.append((RECORD_PROPERTY, json.dumps(row)))
            pytest.xfail(f"{where}: waived until {waiver.expires} ({waiver.owner}): {waiver.reason}; "
                         f"the check failed: {record.reason}")
        if waiver is not None:  # expired: the failure counts again, and says why
            row.update(waiver=waiver.to_dict() | {"expired": True})
        self._node.user_properties.append((RECORD_PROPERTY, json.dumps(row)))
        if record.verdict not in DECISIVE and record.observed != NOT_APPLICABLE and self._node.config.option.require_all:
            pytest.fail(f"{where}: did not run ({record.verdict}) and --require-all is set: {record.reason}",
                        pytrace=False)
        if record.verdict == SKIP:
            pytest.skip(f"{where}: {record.reason}")
        if record.verdict == UNSUPPORTED:
            pytest.skip(f"{where}: {record.reason}")
        if record.verdict == INCONCLUSIVE:  # ran, but proves nothing: never a pass, never a failure of the run
            pytest.skip(f"{where}: inconclusive: {record.reason}")
        if record.verdict == WARN:
            warnings.warn(PolicyWarning(f"{where}: {record.reason}"), stacklevel=2)
        if record.verdict == FAIL:
            lines = [f"{where}: {record.reason}", f"  client presents: {record.presents}"]
            if waiver is not None:
                lines.append(f"  waiver expired on {waiver.expires} ({waiver.owner}): {waiver.reason}")
            if record.outcome:
                lines.append(f"  outcome: {record.outcome['summary']}")
            if record.baseline:
                lines.append(f"  a valid client gets: {record.baseline['summary']}")
            for attempt in record.attempts or []:
                lines.append(f"  {attempt['verdict'].upper()} {attempt['label']}: {attempt['reason']}")
            if record.backend_headers:
                lines.append("  the backend received: " + "; ".join(f"{k}: {v}" for k, v in record.backend_headers))
            pytest.fail("\n".join(lines), pytrace=False)
        assert record.verdict in (PASS, WARN)
        return record


    def _start_on_worker(self, gate: Gate) -> bool:
        """Under xdist a worker starts a target at its first check (it runs only its own targets).

        True when the target cannot be tested: the run stops, as the preflight stops it.
        """
        from .targets import TargetUnavailable, in_ci

        if self.target in gate.states or self.target in gate.unavailable:
            return False
        try:
            gate.start(self.target)
        except TargetUnavailable as exc:
            if not in_ci():
                gate.unavailable[self.target] = str(exc)
                return False
            self._state.aborted = f"{exc} (required under CI=true)"
            return True
        except UntestableTarget as exc:
            if gate.isolate_targets:
                gate.untestable[self.target] = str(exc)  # its checks are recorded as not run; the others go on
                return False
            self._state.aborted = str(exc)
            return True
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        return False


def _transport_label(version: str) -> str:
    """``TLS 1.3`` or ``QUIC`` (HTTP/3 over QUIC is always TLS 1.3)."""
    return "QUIC" if version == "quic" else f"TLS {version}"


Row = tuple[str, str, str]  # (check id, TLS version, target): one selected row of the report


def selected_rows(items: list[pytest.Item]) -> list[Row]:
    """The rows the collected items ask for: each ``gate.check("<id>")`` of each item, per target and version."""
    cache: dict[Any, tuple[str, ...]] = {}
    rows: list[Row] = []
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is None or "gate" not in callspec.params:
            continue
        spec, version = callspec.params["gate"]
        ids = _check_ids(getattr(item, "function", None), cache) or (item.name,)
        rows.extend((check_id, version, spec) for check_id in ids)
    return rows


def rows_from_nodeids(config: pytest.Config, state: RunState, nodeids: list[str]) -> list[Row]:
    """The selected rows from the node ids a worker of xdist collected (the controller holds no items).

    ``suites/test_x.py::test_y[tls1.2]``: the parameter id names the target and TLS version (as
    pytest_generate_tests made it), and the test function's ``gate.check`` literals are read
    from its source file, found from the node id relative to the rootdir.
    """
    import ast

    params = {_param_id(state, spec, version): (spec, version) for spec in state.targets for version in state.versions}
    trees: dict[str, ast.Module | None] = {}
    literals: dict[tuple[str, str], tuple[str, ...]] = {}  # a fleet's targets share each test function
    rows: list[Row] = []
    for nodeid in nodeids:
        nodeid = nodeid.split("@mtlsgate:", 1)[0]  # xdist's loadgroup suffix (``...[tls1.2]@mtlsgate:<target>``)
        path, _, rest = nodeid.partition("::")
        if not rest.endswith("]") or "[" not in rest:
            continue
        names, param = rest[:rest.index("[")], rest[rest.index("[") + 1:-1]
        if param not in params:
            continue  # not a gate test, or parametrized beyond the gate: no row of ours
        spec, version = params[param]
        ids = literals.get((path, names))
        if ids is None:
            if path not in trees:
                try:
                    trees[path] = ast.parse((config.rootpath / path).read_text(encoding="utf-8"))
                except (OSError, SyntaxError, UnicodeDecodeError):
                    trees[path] = None
            node: Any = trees[path]
            for name in names.split("::"):
                node = next((n for n in getattr(node, "body", ()) if isinstance(n, ast.FunctionDef
                                                                                 | ast.AsyncFunctionDef
                                                                                 | ast.ClassDef) and n.name == name),
                            None)
            ids = literals[(path, names)] = _gate_check_literals(node) if node is not None else ()
        rows.extend((check_id, version, spec) for check_id in ids or (rest,))
    return rows


def _param_id(state: RunState, spec: str, version: str) -> str:
    """The id pytest_generate_tests gives the ``gate`` parameter (``tls1.3``, ``quic``, ``<target>-tls1.2``)."""
    name = version if version == "quic" else f"tls{version}"
    return name if len(state.targets) == 1 else f"{spec}-{name}"


def never_runs(check_id: str, tls_version: str, spec: str, unsupported: dict[tuple[str, str], str]) -> str | None:
    """Why ``check_id`` has no verdict over ``tls_version`` on ``spec`` whatever happens (None: it could run).

    The rules a completed run applies (gate/runner.py ``_run_check``): a QUIC-only check over TCP,
    a TCP-only check over QUIC (the runner's ``_transport_skip``), and every row of a transport
    the target was seen not to offer (``unsupported``, by (target, version)). Such a row is
    ``not applicable`` in a completed run, so an interrupted run records it so too instead of
    listing it as not run: the coverage of the two runs adds up the same way.
    """
    from .checks import PROBE_CHECKS, catalogue
    from .gate.runner import _transport_skip

    if (spec, tls_version) in unsupported:
        return unsupported[(spec, tls_version)]
    probe = PROBE_CHECKS.get(check_id)
    if probe is not None:
        return probe.transport_skip(tls_version)
    if check_id in catalogue.BY_ID:
        return _transport_skip(catalogue.get(check_id), tls_version)
    return None


def unsupported_transports(gate: Gate | None, records: list[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """(target, TLS version) -> why the target offers no such transport, as far as this process saw it.

    The preflight's baselines where this process holds the targets; else (the controller of
    xdist) a catalogue check recorded ``not applicable`` for no transport rule of its own,
    which only an unsupported transport does.
    """
    from .checks import catalogue
    from .gate.runner import _transport_skip
    from .report import NOT_APPLICABLE

    found: dict[tuple[str, str], str] = {}
    for spec, st in (gate.states.items() if gate is not None else ()):
        for version, baseline in st.baselines.items():
            if baseline.unsupported:
                found[(spec, version)] = baseline.unsupported
    for r in records:
        if r.get("observed") == NOT_APPLICABLE and r["id"] in catalogue.BY_ID \
                and _transport_skip(catalogue.get(r["id"]), r["tls_version"]) is None:
            found.setdefault((r["target"], r["tls_version"]), r["reason"])
    return found


def not_run(rows: list[Row], records: list[dict[str, Any]], aborted: str | None, interrupted: bool, *,
            unsupported: dict[tuple[str, str], str] | None = None,
            profiles: dict[str, str] | None = None) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """The selected rows that left no record: (those not run, those that never run there).

    An interrupted or stopped run lists the first (never a silent PASS); the second are the
    records a completed run would have made without probing — observed ``not applicable``, out
    of the coverage like theirs (see :func:`never_runs`). ``profiles``: each target's profile name.
    """
    done = {(r["id"], r["tls_version"], r["target"]) for r in records}
    why = ("not run: the run was interrupted" if interrupted else f"not run: {aborted}" if aborted
           else "not run")
    missing: list[dict[str, str]] = []
    inapplicable: list[dict[str, Any]] = []
    for check_id, version, spec in dict.fromkeys(rows):
        if (check_id, version, spec) in done:
            continue
        reason = never_runs(check_id, version, spec, unsupported or {})
        if reason is None:
            missing.append({"id": check_id, "tls_version": version, "target": spec, "reason": why})
        else:
            inapplicable.append(_not_applicable_row(check_id, version, spec, reason,
                                                    (profiles or {}).get(spec, "default")))
    return missing, inapplicable


def _not_applicable_row(check_id: str, version: str, spec: str, reason: str, profile: str) -> dict[str, Any]:
    from .checks import PROBE_CHECKS, catalogue
    from .gate import MODE_CHECK, CheckRecord, describe_check
    from .judge import SKIP
    from .report import NOT_APPLICABLE

    group, expect = describe_check(check_id)
    presents = ("no certificate (preflight)" if check_id == MODE_CHECK else
                PROBE_CHECKS[check_id].presents if check_id in PROBE_CHECKS else
                catalogue.get(check_id).presents if check_id in catalogue.BY_ID else "Hypothesis-generated chains")
    return CheckRecord(id=check_id, tls_version=version, target=spec, group=group, expected=expect,
                       presents=presents, verdict=SKIP, observed=NOT_APPLICABLE, reason=reason,
                       profile=profile).to_dict()


def replay_flags(config: pytest.Config, spec: str, entry: TargetSpec | None = None) -> str:
    """The ``mtlsgate replay`` flags that reach ``spec`` again, as this run reached it (paths absolute).

    An inventory entry brings its own URL, trust material and profile.
    """
    opt = config.option
    url = entry.url if entry is not None else spec
    flags = [f"--target {shlex.quote(url)}"]
    if opt.reference_mutant and url == "reference":
        flags.append(f"--reference-mutant {opt.reference_mutant}")
    profile = (entry.profile if entry is not None else None) or opt.profile
    if profile:
        flags.append(f"--profile {shlex.quote(profile)}")
    for name in ("server_name", "server_ca", "client_ca_cert", "client_ca_key", "client_cert", "client_key"):
        value = getattr(entry.options if entry is not None else opt, name)
        if value is not None and url.startswith("https:"):
            shown = str(value.absolute()) if isinstance(value, Path) else str(value)
            flags.append(f"--{name.replace('_', '-')} {shlex.quote(shown)}")
    return " ".join(flags)


@pytest.fixture
def gate(request: pytest.FixtureRequest) -> CheckRunner:
    """The check runner for this test's target and TLS version."""
    spec, version = request.param
    return CheckRunner(request.config.stash[GATE_KEY], spec, version, request.node)


class RunHooks:
    """The session hooks, bound to one run's state (registered per config, no module state)."""

    def __init__(self, state: RunState) -> None:
        self.state = state
        self.paths: dict[str, Path] = {}
        self.review: dict[str, Any] | None = None
        self.comparison: Any = None
        self.seen: set[str] = set()  # the records already collected, as reported
        self.info: RunInfo | None = None
        self.lock: ReportsLock | None = None
        self.collected: list[str] | None = None  # xdist's controller: the node ids a worker collected

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """The controller of xdist holds no items: it keeps a worker's collection to list the checks not run."""
        if self.collected is None:
            self.collected = list(ids)  # every worker collects the same items (xdist checks it)

    def _selected(self, session: pytest.Session) -> list[Row]:
        if session.items or not _is_xdist_controller(session.config):
            return selected_rows(session.items)
        return rows_from_nodeids(session.config, self.state, self.collected or [])

    def _take_signals(self, session: pytest.Session) -> None:
        """Collection is over: stop deferring signals; a session that runs checks turns SIGTERM into Ctrl-C.

        Deferred until here (not session start) so that a signal during collection still
        finds every selected check to list as not run. A session without mtlsgate checks
        (another project's tests; the plugin is loaded in every session) keeps Python's
        defaults, and a signal that came during its start-up does what the default would have.
        """
        state = self.state
        state.pending_signal = DeferredInterrupt.release()
        suite = _is_xdist_controller(session.config) or \
            any("gate" in getattr(i, "fixturenames", ()) for i in session.items)
        if not suite:
            if state.pending_signal == "SIGTERM":
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            if state.pending_signal is not None:
                raise KeyboardInterrupt(f"signal {state.pending_signal} during start-up")
            return
        state.previous_sigterm = _sigterm_as_interrupt(state)
        _remember_sigint(state)
        if state.pending_signal is not None:  # Ctrl-C or SIGTERM during start-up: every check is "not run"
            state.active = True
            raise KeyboardInterrupt(f"signal {state.pending_signal} during start-up")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Start and preflight every target before the first check: a dead target stops the run here."""
        from .targets import TargetUnavailable, in_ci

        state = self.state
        self._take_signals(session)
        self._lock_reports(session)
        if _is_xdist_controller(session.config):
            return None  # workers run the checks and own the targets; the controller reports what they send
        if session.config.option.collectonly or not any("gate" in getattr(i, "fixturenames", ()) for i in session.items):
            return None
        state.active = True
        gate = state.ensure_gate()
        if _is_xdist_worker(session.config):
            return None  # a worker starts each target at its first check: it runs only its own targets
        try:
            failures = gate.targets.start_many(state.targets, session.config.option.connections)
            for spec, exc in failures.items():  # in the targets' order: the first one stops the run
                if isinstance(exc, TargetUnavailable):
                    if in_ci():
                        raise UntestableTarget(f"{exc} (required under CI=true)") from None
                    gate.unavailable[spec] = str(exc)
                    self._line(session, f"mtlsgate: skipping {spec}: {exc}")
                elif isinstance(exc, UntestableTarget) and gate.isolate_targets:
                    gate.untestable[spec] = str(exc)
                    self._line(session, f"mtlsgate: {exc}; its checks are not run, the other targets' are",
                               red=True, bold=True)
                else:
                    raise exc
        except UntestableTarget as exc:
            state.aborted = str(exc)
            state.announced = True
            self._line(session, f"mtlsgate: {exc}", red=True, bold=True)
            if _is_xdist_worker(session.config):
                return None  # the worker must keep serving its scheduler; each check reports the abort
            return True  # no check runs: their verdicts could not be trusted
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        except Exception as exc:
            state.aborted = f"internal error while starting the targets: {type(exc).__name__}: {exc}"
            raise
        return None

    def _lock_reports(self, session: pytest.Session) -> None:
        """Before the first probe: this run owns its reports dir, and old reproducers are gone."""
        from .report import ReportsLock, clear_stale_reproducers

        config = session.config
        if _is_xdist_worker(config) or config.option.collectonly or self.lock is not None:
            return
        if not any("gate" in getattr(i, "fixturenames", ()) for i in session.items):
            return
        lock = ReportsLock(config.option.reports_dir)
        try:
            lock.acquire()
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        self.lock = lock
        stale = clear_stale_reproducers(config.option.reports_dir)
        if stale:
            self._line(session, f"mtlsgate: removed {len(stale)} reproducer(s) of an earlier run from "
                                f"{config.option.reports_dir / 'repro'}")

    @staticmethod
    def _line(session: pytest.Session, line: str, **markup: bool) -> None:
        _say(session.config, line, **markup)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        """A row that cannot apply is recorded at setup, before fixtures and without a call phase.

        The QUIC rows of a listener without HTTP/3 are two in five of a fleet's items, and a
        pytest item's setup, call and three reports cost more than the row itself. Only rows
        whose first check never runs over this transport on this target, as its preflight saw
        it, take this way: the check records them exactly as the call would have (``not
        applicable``, skipped), and the test body would have stopped at that first check.
        """
        state, callspec = self.state, getattr(item, "callspec", None)
        gate = state.gate
        if gate is None or callspec is None or "gate" not in callspec.params:
            return
        spec, version = callspec.params["gate"]
        target = gate.states.get(spec)
        if target is None or spec in gate.untestable or gate.aborted or state.aborted:
            return  # not started here yet (its first check starts it), or the normal path says why not
        ids = _check_ids(getattr(item, "function", None), state.check_ids)
        baseline = target.baselines.get(version)
        unsupported = {(spec, version): baseline.unsupported} if baseline is not None and baseline.unsupported else {}
        if ids and never_runs(ids[0], version, spec, unsupported) is not None:
            CheckRunner(state, spec, version, item).check(ids[0])  # records the row and skips

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            return
        worker = _is_xdist_worker(self.state.config)  # its rows go to the controller, which writes the reports
        for name, value in report.user_properties:
            if name == RECORD_PROPERTY:
                if worker:
                    continue
                if value not in self.seen:  # a set: a fleet's thousands of rows, not a list scan per row
                    self.seen.add(value)
                    self.state.records.append(json.loads(value))
            elif name == ABORT_PROPERTY and self.state.aborted is None:
                self.state.aborted = value
            elif name == UNTESTABLE_PROPERTY:
                target, line = json.loads(value)
                self.state.untestable.setdefault(target, line)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from .report import RunInfo, compare, write_reports
        from .report import waivers as waiver_file

        state = self.state
        # a signal swallowed inside a C callback during the last check still interrupts the run
        interrupted = exitstatus == pytest.ExitCode.INTERRUPTED or state.signal_seen is not None
        if _is_xdist_worker(session.config) or not (state.active or state.records or state.aborted or
                                                     (interrupted and self._selected(session))):
            return  # (another project's session, interrupted: not an mtlsgate run, no mtlsgate report)
        missing, inapplicable = not_run(self._selected(session), state.records, state.aborted, interrupted,
                                        unsupported=unsupported_transports(state.gate, state.records),
                                        profiles=self._profiles())
        # What a completed run records for them, without a probe. A run the preflight stopped before its
        # first check reports no check at all (its one failure is the preflight's), and lists them nowhere.
        if state.records or interrupted:
            state.records.extend(inapplicable)
        review = waiver_file.review(state.waivers, state.records, waiver_file.today()) if state.waivers else None
        comparison = compare(state.baseline, {"checks": state.records}, str(session.config.option.baseline)) \
            if state.baseline is not None else None
        self.review, self.comparison = review, comparison
        if state.aborted is None and state.untestable:
            state.aborted = _untestable_line(state)
        info = RunInfo(targets=state.target_infos(), profile=state.profile_name, started_at=state.started,
                       duration_s=time.time() - state.started, aborted=state.aborted,
                       interrupted=interrupted, waivers=review,
                       comparison=comparison.to_dict() if comparison else None,
                       not_run=missing,
                       require_all=session.config.option.require_all,
                       extra={"shard": state.shard} if state.shard else {})
        self.info = info
        try:
            self.paths = write_reports(session.config.option.reports_dir, state.records, info, state.report_formats)
            _hold_late_signals(state)
            if self.lock is not None:
                self.lock.release()
                self.lock = None
        except OSError as exc:
            _say(session.config, f"mtlsgate: cannot write the reports to {session.config.option.reports_dir}: "
                                 f"{exc.strerror or exc}", red=True, bold=True)
            session.exitstatus = pytest.ExitCode.USAGE_ERROR
            return
        if interrupted:
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        elif state.aborted:
            session.exitstatus = UNTESTABLE_TARGET
        elif info.expired_waivers and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # an expired waiver is a decision overdue

    def _profiles(self) -> dict[str, str]:
        """Each target's profile name: the preflight's, else its records', else the run's."""
        state = self.state
        found = {r["target"]: r["profile"] for r in state.records}
        if state.gate is not None:
            found.update({spec: st.profile.name for spec, st in state.gate.states.items()})
        default = state.profile.name if state.profile is not None else "default"
        return {spec: found.get(spec, default) for spec in state.targets}

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        from .report import counts, coverage_line

        if not self.paths:
            return
        state = self.state
        tally = counts(state.records)
        terminalreporter.write_sep("-", "mtlsgate")
        if state.aborted:
            prefix = "run stopped" if state.announced else "mtlsgate"
            terminalreporter.write_line(f"{prefix}: {state.aborted}", red=True, bold=True)
        ran = ", ".join(f"{n} {v}" for v, n in tally.items() if n) or "no check ran"
        terminalreporter.write_line(f"profile {state.profile_name}: {ran} ({len(state.records)} checks)")
        _fleet_lines(terminalreporter, state)
        if self.info is not None:
            terminalreporter.write_line(f"coverage: {coverage_line(state.records, self.info, reasons=9)}")
        for r in state.records:
            if r["verdict"] == "waived":
                w = r["waiver"]
                terminalreporter.write_line(f"waived: {r['id']} [{_transport_label(r['tls_version'])}] on {r['target']}: {w['reason']} "
                                            f"({w['owner']}, until {w['expires']})", yellow=True)
        review = self.review or {}
        for w in review.get("expired", []):
            terminalreporter.write_line(f"expired waiver: {w['check']} (owner {w['owner']}) expired {w['expires']}: "
                                        f"the run fails until it is renewed or removed", red=True)
        for w in review.get("stale", []):
            terminalreporter.write_line(f"stale waiver: {w['check']} (owner {w['owner']}) matches no failure any more",
                                        yellow=True)
        if self.comparison is not None:
            for line in self.comparison.lines():
                terminalreporter.write_line(line, red=line.startswith("REGRESSED"), green=line.startswith("FIXED"))
        fuzzed = [r for r in state.records if r.get("fuzz")]
        if fuzzed:
            total = sum(r["fuzz"]["examples"] for r in fuzzed)
            terminalreporter.write_line(f"fuzz: {total} generated chains probed ({len(fuzzed)} campaigns, profile "
                                        f"{fuzzed[0]['fuzz']['profile']}); reproducers: "
                                        f"{sum(len(r['fuzz']['disagreements']) for r in fuzzed)}")
        for name, path in self.paths.items():
            terminalreporter.write_line(f"{name}: {path}")


def _untestable_line(state: RunState) -> str:
    """The run's one line when some of a fleet's targets could not be tested (exit 69; the others were)."""
    names = [t for t in state.targets if t in state.untestable]
    return (f"{len(names)} of {len(state.targets)} targets could not be tested (the others were): "
            + "; ".join(state.untestable[t] for t in names))


def _fleet_lines(terminalreporter: Any, state: RunState) -> None:
    """With several targets: one line per target, the failing ones first with their failing check ids."""
    from .report import RunInfo, target_lines

    if len(state.targets) < 2:
        return
    info = RunInfo(targets=[{"name": t, **({"untestable": state.untestable[t]} if t in state.untestable else {})}
                            for t in state.targets], profile=state.profile_name,
                   started_at=state.started, duration_s=0)
    for line in target_lines(state.records, info):
        terminalreporter.write_line(line, red=line.startswith(("FAILED", "UNTESTABLE")), green=line.startswith("PASSED"))


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """An empty directory holds no suite: say where the installed one is instead of a bare 'collected 0 items'."""
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not config.option.pyargs and not config.option.keyword \
            and not config.option.markexpr:
        terminalreporter.write_line("mtlsgate: no suite here; the installed one runs with `pytest --pyargs "
                                    "mtlsgate.suites ...` or `mtlsgate test ...` (same options)", yellow=True)


def _say(config: pytest.Config, line: str, **markup: bool) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line, **markup)
    else:
        print(line, file=sys.stderr)


__all__ = ["CheckRunner", "PolicyWarning", "RunState"]

"""The pytest plugin: options, the ``gate`` fixture, preflight before the first check, reports.

Suites stay declarative — ``gate.check("reject.expired")`` — and every check is
parametrized here over the targets and TLS versions of the run.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from . import catalogue
from .errors import UNTESTABLE_TARGET, UntestableTarget, UsageError
from .expect import FAIL, PASS, SKIP, UNSUPPORTED, WARN
from .gate import MODE_CHECK, CheckRecord, Gate
from .keypool import KeyPool
from .kitfile import load_kit
from .probe import TLS_VERSIONS
from .profiles import load as load_profile
from .report import RunInfo, counts, write_reports
from .targets import TargetOptions, external_target, validate_spec
from .targets.provision import TargetUnavailable, in_ci
from .targets.reference import MUTANTS

GATE_KEY = pytest.StashKey["RunState"]()
RECORD_PROPERTY = "mtlsgate"
ABORT_PROPERTY = "mtlsgate-aborted"


def _is_xdist_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _is_xdist_controller(config: pytest.Config) -> bool:
    return config.pluginmanager.has_plugin("dsession")


class PolicyWarning(UserWarning):
    """A policy-dependent check (e.g. a CA certificate as leaf) was accepted; the profile allows it."""


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("mtlsgate", "mtlsgate: mutual-TLS conformance")
    g.addoption("--target", action="append", default=None, metavar="TARGET",
                help="reference (default), local:<nginx|haproxy|apache|caddy|traefik>, or an https:// URL; repeatable")
    g.addoption("--server-name", default=None, help="SNI and Host for the target (default: the URL's host)")
    g.addoption("--server-ca", default=None, type=Path, help="PEM file that verifies the target's certificate")
    g.addoption("--client-ca-cert", default=None, type=Path, help="the CA certificate the target trusts for clients")
    g.addoption("--client-ca-key", default=None, type=Path, help="its private key: lets the suite mint every variant")
    g.addoption("--client-cert", default=None, type=Path, help="a valid client certificate (leaf first, then chain)")
    g.addoption("--client-key", default=None, type=Path, help="its private key")
    g.addoption("--revoked-cert", default=None, type=Path, help="a client certificate the target's CRL revokes")
    g.addoption("--revoked-key", default=None, type=Path, help="its private key")
    g.addoption("--kit", default=None, type=Path, metavar="DIR",
                help="trust material from a kit made by `mtlsgate kit` (kit.json); with local:<lb>, "
                     "the LB is provisioned with the kit instead of the lab PKI")
    g.addoption("--profile", default=None, help="expectation profile: a name in fixtures/profiles/ or a .toml file")
    g.addoption("--tls-version", action="append", choices=TLS_VERSIONS, default=None,
                help="TLS version(s) to test (default: 1.2 and 1.3)")
    g.addoption("--probe-timeout", type=float, default=5.0, help="seconds for each connect, handshake and read")
    g.addoption("--reports-dir", type=Path, default=Path("reports"), help="where reports are written")
    g.addoption("--reference-mutant", default=None, choices=sorted(MUTANTS),
                help="run the reference target with one deliberate mistake (to see the suite catch it)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "mtlsgate: a conformance check of mtlsgate")
    state = RunState(config)
    config.stash[GATE_KEY] = state
    config.pluginmanager.register(RunHooks(state), "mtlsgate-run")


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(GATE_KEY, None)
    if state is not None:
        state.close()


class RunState:
    """Per-session state: options parsed on first use, the gate, the collected records."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.records: list[dict[str, Any]] = []
        self.gate: Gate | None = None
        self.aborted: str | None = None
        self.started = time.time()
        self.workdir: Path | None = None
        self.active = False
        opt = config.option
        try:
            kit = load_kit(opt.kit) if opt.kit is not None else None
            self.options = TargetOptions(
                server_name=opt.server_name, server_ca=opt.server_ca, client_ca_cert=opt.client_ca_cert,
                client_ca_key=opt.client_ca_key, client_cert=opt.client_cert, client_key=opt.client_key,
                revoked_cert=opt.revoked_cert, revoked_key=opt.revoked_key, kit=kit)
            self.targets = [validate_spec(t) for t in (opt.target or ["reference"])]
            if kit is not None and "reference" in self.targets:
                raise UsageError("--kit needs --target local:<lb> (provisioned with the kit) or --target https://...; "
                                 "the reference target uses its own PKI")
            # No --profile: each target uses its own (local:caddy -> caddy.toml), else default.
            self.profile = load_profile(opt.profile) if opt.profile else None
            for spec in self.targets:
                if spec.startswith("https:"):
                    external_target(spec, self.options, "default")  # reads and checks the files now
        except UsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        if opt.probe_timeout <= 0 or opt.probe_timeout > 120:
            raise pytest.UsageError("--probe-timeout must be between 0 and 120 seconds")
        self.versions = tuple(sorted(set(opt.tls_version or TLS_VERSIONS)))

    def ensure_gate(self) -> Gate:
        if self.gate is None:
            opt = self.config.option
            self.workdir = Path(tempfile.mkdtemp(prefix="mtlsgate-"))
            self.gate = Gate(target_specs=self.targets, options=self.options, profile=self.profile, workdir=self.workdir,
                             pool=KeyPool(), tls_versions=self.versions, probe_timeout=opt.probe_timeout,
                             reference_policy=MUTANTS[opt.reference_mutant] if opt.reference_mutant else None)
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
            if st is not None:
                t = st.target
                info.update(kind=t.kind, endpoint=f"{t.endpoint.host}:{t.endpoint.port}", server_name=t.server_name,
                            description=t.description, can_mint=t.can_mint, profile=st.profile.name, **t.extra,
                            ca_names={v: list(b.facts.ca_names) for v, b in st.baselines.items() if b.facts})
            infos.append(info)
        return infos


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "gate" not in metafunc.fixturenames:
        return
    state: RunState = metafunc.config.stash[GATE_KEY]
    params, ids = [], []
    for spec in state.targets:
        for version in state.versions:
            params.append((spec, version))
            ids.append(f"tls{version}" if len(state.targets) == 1 else f"{spec}-tls{version}")
    metafunc.parametrize("gate", params, ids=ids, indirect=True)


class CheckRunner:
    """What a suite's test sees: ``gate.check(check_id)`` runs, judges and records one check."""

    def __init__(self, state: RunState, spec: str, tls_version: str, node: pytest.Item) -> None:
        self._state = state
        self.target = spec
        self.tls_version = tls_version
        self._node = node

    def check(self, check_id: str) -> CheckRecord:
        if check_id != MODE_CHECK:
            catalogue.get(check_id)  # an unknown id is a bug in the suite, not a skip
        if self._state.aborted:  # only under xdist: a worker's preflight stopped the run
            self._node.user_properties.append((ABORT_PROPERTY, self._state.aborted))
            pytest.skip(f"run stopped: {self._state.aborted}")
        record = self._state.ensure_gate().run_check(self.target, self.tls_version, check_id)
        self._node.user_properties.append((RECORD_PROPERTY, json.dumps(record.to_dict())))
        where = f"{check_id} [TLS {self.tls_version}] on {record.target}"
        if record.verdict == SKIP:
            pytest.skip(f"{where}: {record.reason}")
        if record.verdict == UNSUPPORTED:
            pytest.skip(f"{where}: {record.reason}")
        if record.verdict == WARN:
            warnings.warn(PolicyWarning(f"{where}: {record.reason}"), stacklevel=2)
        if record.verdict == FAIL:
            lines = [f"{where}: {record.reason}", f"  client presents: {record.presents}"]
            if record.outcome:
                lines.append(f"  outcome: {record.outcome['summary']}")
            if record.baseline:
                lines.append(f"  a valid client gets: {record.baseline['summary']}")
            pytest.fail("\n".join(lines), pytrace=False)
        assert record.verdict in (PASS, WARN)
        return record


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

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        """Start and preflight every target before the first check: a dead target stops the run here."""
        state = self.state
        if _is_xdist_controller(session.config):
            state.active = True  # workers run the checks and own the targets; the controller reports
            return None
        if session.config.option.collectonly or not any("gate" in getattr(i, "fixturenames", ()) for i in session.items):
            return None
        state.active = True
        gate = state.ensure_gate()
        try:
            for spec in state.targets:
                try:
                    gate.start(spec)
                except TargetUnavailable as exc:
                    if in_ci():
                        raise UntestableTarget(f"{exc} (required under CI=true)") from None
                    gate.unavailable[spec] = str(exc)
                    self._line(session, f"mtlsgate: skipping {spec}: {exc}")
        except UntestableTarget as exc:
            state.aborted = str(exc)
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

    @staticmethod
    def _line(session: pytest.Session, line: str, **markup: bool) -> None:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(line, **markup)
        else:
            print(line, file=sys.stderr)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            return
        for name, value in report.user_properties:
            if name == RECORD_PROPERTY:
                record = json.loads(value)
                if record not in self.state.records:
                    self.state.records.append(record)
            elif name == ABORT_PROPERTY and self.state.aborted is None:
                self.state.aborted = value

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        state = self.state
        if not (state.active or state.records) or _is_xdist_worker(session.config):
            return
        info = RunInfo(targets=state.target_infos(), profile=state.profile_name, started_at=state.started,
                       duration_s=time.time() - state.started, aborted=state.aborted,
                       interrupted=exitstatus == pytest.ExitCode.INTERRUPTED)
        self.paths = write_reports(session.config.option.reports_dir, state.records, info)
        if state.aborted:
            session.exitstatus = UNTESTABLE_TARGET

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if not self.paths:
            return
        state = self.state
        tally = counts(state.records)
        terminalreporter.write_sep("-", "mtlsgate")
        if state.aborted:
            terminalreporter.write_line(f"run stopped: {state.aborted}", red=True)
        ran = ", ".join(f"{n} {v}" for v, n in tally.items() if n) or "no check ran"
        terminalreporter.write_line(f"profile {state.profile_name}: {ran} ({len(state.records)} checks)")
        for name, path in self.paths.items():
            terminalreporter.write_line(f"{name}: {path}")


__all__ = ["CheckRunner", "PolicyWarning", "RunState"]

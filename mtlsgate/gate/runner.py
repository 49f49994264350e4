"""Running and recording checks: build the credential, probe, judge against the valid client, record.

The pytest plugin is a thin shell around :class:`Gate`; everything a check does happens
here, so the same engine serves ``pytest`` and ``mtlsgate replay``. The targets themselves —
opening, preflight, liveness, the run's deadline — belong to :class:`~mtlsgate.gate.lifecycle.Targets`.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..checks import PROBE_CHECKS, CheckContext, ProbeCheck, catalogue
from ..fuzz import FUZZ_CHECK, MAX_DEPTH, POLICY_VERSION, Campaign, FuzzOptions, Oracle, differences, write_reproducer
from ..judge import (
    FAIL,
    PASS,
    SKIP,
    UNSUPPORTED,
    WARN,
    Profile,
    Verdict,
    against_sibling,
    intermediate_refused,
    judge,
    not_sent,
)
from ..pki import Credential, KeyPool, signature_hash_name
from ..report import NOT_APPLICABLE, excerpt, log_size
from ..targets import ReferencePolicy, TargetOptions, TargetSpec
from ..wire import DEFAULT_RETRIES, QUIC, TLS_VERSIONS, Outcome, Transport, Unreachable, describe, to_dict
from .lifecycle import Targets, TargetState
from .records import MODE_CHECK, CheckRecord, certificate_summary, describe_check

#: Checks that never run ahead of their turn: the preflight's verdict (no probe), the fuzz
#: campaign (its own liveness probes and budget), and session resumption (it reuses the
#: target's session cache, which other connections would churn).
SERIAL_CHECKS = frozenset({MODE_CHECK, FUZZ_CHECK, "bypass.resumption-cross-host"})


class _Deferred(Exception):
    """A check run ahead of its turn that must be run again in its turn.

    An unreachable outcome needs the circuit breaker's liveness probe, in order; a failure on
    a local LB needs the LB's log lines of that check alone.
    """


class Gate:
    """Runs and records checks against the run's :class:`Targets`; stops the run when it cannot go on."""

    def __init__(self, *, target_specs: list[str], options: TargetOptions, profile: Profile | None, workdir: Path,
                 pool: KeyPool, tls_versions: tuple[str, ...] = TLS_VERSIONS, probe_timeout: float = 5.0,
                 reference_policy: ReferencePolicy | None = None, max_duration: float | None = None,
                 retries: int = DEFAULT_RETRIES, fuzz: FuzzOptions | None = None, force_quic: bool = False,
                 specs: Mapping[str, TargetSpec] | None = None, isolate_targets: bool = False) -> None:
        self.target_specs = target_specs
        self.profile = profile
        self.pool = pool
        self.probe_timeout = probe_timeout
        self.fuzz = fuzz or FuzzOptions()
        self.targets = Targets(options=options, profile=profile, workdir=workdir, pool=pool,
                               tls_versions=tls_versions, probe_timeout=probe_timeout,
                               reference_policy=reference_policy, max_duration=max_duration, retries=retries,
                               force_quic=force_quic, specs=specs)
        self.started_at = time.time()
        #: Set once the run cannot go on (the target stopped answering, the time is up):
        #: every later check is recorded as not run, with this line as the reason.
        self.aborted: str | None = None
        self.checks_done = 0
        #: A fleet (``isolate_targets``): a target that cannot be tested, or stops answering,
        #: stops only its own checks — here, with its one line — and the others go on.
        self.isolate_targets = isolate_targets
        self.untestable: dict[str, str] = {}
        #: Records of independent checks run ahead of their turn (see prefetch), by (target, version, id).
        self._ahead: dict[tuple[str, str, str], Future[CheckRecord | None]] = {}
        self._pools: dict[str, ThreadPoolExecutor] = {}
        self._closing = threading.Event()

    # -- the targets (see lifecycle.Targets) -------------------------------------------
    @property
    def states(self) -> dict[str, TargetState]:
        return self.targets.states

    @property
    def tls_versions(self) -> tuple[str, ...]:
        return self.targets.tls_versions

    @property
    def unavailable(self) -> dict[str, str]:
        return self.targets.unavailable

    def start(self, spec: str) -> TargetState:
        return self.targets.start(spec)

    def close(self) -> None:
        self._closing.set()  # checks not started yet return at once
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        self.targets.close()

    def finish(self, spec: str) -> None:
        """Every check of ``spec`` has been reported: its connections end and its memory is let go.

        A fleet run used to keep every target's thread pool, credentials and TLS contexts
        (~6 MB a target) until the end of the run.
        """
        pool = self._pools.pop(spec, None)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        for key in [k for k in self._ahead if k[0] == spec]:
            self._ahead.pop(key).cancel()
        self.targets.release(spec)

    def transport(self, state: TargetState, tls_version: str, requests: int = 1) -> Transport:
        return self.targets.transport(state, tls_version, requests)

    def credential(self, state: TargetState, check_id: str) -> Credential | None:
        return self.targets.credential(state, check_id)

    def _still_alive(self, state: TargetState, tls_version: str, outcome: Unreachable) -> str | None:
        return self.targets.still_alive(state, tls_version, outcome, self.checks_done)

    def _out_of_time(self, timeouts: float = 0) -> bool:
        return self.targets.out_of_time(timeouts)

    def _out_of_time_line(self, when: str) -> str:
        return self.targets.out_of_time_line(when)

    # -- checks ----------------------------------------------------------------------
    def prefetch(self, spec: str, plan: Iterable[tuple[str, str]], connections: int) -> None:
        """Start ``spec``'s independent checks in ``plan`` ((version, id) pairs) on ``connections`` threads.

        Returns at once; :meth:`run_check` then reports each record in its turn, so a pytest
        item still reports one check. The verdicts are those of a sequential run: a check run
        ahead that met an unreachable target, or that failed on a target with a log, is run
        again in its turn (the circuit breaker and the log excerpt need the order), and no
        check is started ahead once the run is stopped or past ``--max-duration``.
        """
        if (connections < 2 or spec in self.unavailable or spec in self.untestable or self.aborted is not None
                or spec in self._pools):
            return
        state = self.start(spec)
        todo = [(v, c) for v, c in dict.fromkeys(plan) if c not in SERIAL_CHECKS and v in state.baselines]
        # Credentials are built here, one thread: certificate making is CPU work, and the cache is per target.
        for _version, check_id in todo:
            if check_id not in PROBE_CHECKS and not catalogue.get(check_id).missing(state.materials):
                self.credential(state, check_id)
        if state.materials.has("identity"):
            self.credential(state, "accept.valid-direct")
        for check_id in dict.fromkeys(c for _, c in todo):
            entry = PROBE_CHECKS.get(check_id)
            if entry is not None and entry.prepare is not None:
                entry.prepare()
        pool = ThreadPoolExecutor(max_workers=connections, thread_name_prefix=f"mtlsgate-t{len(self._pools)}")
        self._pools[spec] = pool
        for version, check_id in todo:
            self._ahead[(spec, version, check_id)] = pool.submit(self._run_ahead, spec, version, check_id)

    def _run_ahead(self, spec: str, tls_version: str, check_id: str) -> CheckRecord | None:
        if (self._closing.is_set() or self.aborted is not None or spec in self.untestable
                or self._out_of_time(2 + 1 + _attempts(check_id))):
            return None  # its turn decides (not run, or run then)
        try:
            return self._run_check(spec, tls_version, check_id, ahead=True)
        except _Deferred:
            return None
        except Exception:  # noqa: BLE001 - the check raises again in its turn, where pytest reports it
            return None

    def run_check(self, spec: str, tls_version: str, check_id: str) -> CheckRecord:
        ahead = self._ahead.pop((spec, tls_version, check_id), None)
        record = ahead.result() if ahead is not None else None
        if record is not None and self.aborted is None and spec not in self.untestable:
            self.checks_done += 1
            return record
        if spec in self.untestable and self.aborted is None:
            return self._not_run(spec, tls_version, check_id, f"target not tested: {self.untestable[spec]}")
        if self.aborted is None and check_id not in (MODE_CHECK, FUZZ_CHECK) and self._out_of_time(
                2 + 1 + _attempts(check_id)):  # the probe(s), and a liveness probe if it fails
            self.aborted = self._out_of_time_line(f"after {self.checks_done} checks")
        if self.aborted is not None:
            return self._not_run(spec, tls_version, check_id, f"run stopped: {self.aborted}")
        record = self._run_check(spec, tls_version, check_id)
        if record.observed not in ("not run", NOT_APPLICABLE):
            self.checks_done += 1
        return record

    def _run_check(self, spec: str, tls_version: str, check_id: str, ahead: bool = False) -> CheckRecord:
        """The check's record; a skip because the target does not offer the transport is ``not applicable``.

        A listener without HTTP/3 (or without TLS 1.2) has no QUIC (TLS 1.2) cases to run, and a
        QUIC-only check has no TCP verdict: those rows say so instead of counting as lost coverage
        (``--require-all`` fails on skips, never on transports the target does not speak).
        """
        record = self._check_record(spec, tls_version, check_id, ahead)
        if record.verdict == SKIP and record.observed == "not run" and self._not_applicable(spec, tls_version,
                                                                                           check_id):
            record = dataclasses.replace(record, observed=NOT_APPLICABLE)
        return record

    def _not_applicable(self, spec: str, tls_version: str, check_id: str) -> bool:
        state = self.states.get(spec)
        baseline = state.baselines.get(tls_version) if state is not None else None
        if baseline is not None and baseline.unsupported:
            return True
        probe = PROBE_CHECKS.get(check_id)
        if probe is not None:
            return probe.transport_skip(tls_version) is not None
        return check_id in catalogue.BY_ID and _transport_skip(catalogue.get(check_id), tls_version) is not None

    def _check_record(self, spec: str, tls_version: str, check_id: str, ahead: bool = False) -> CheckRecord:
        if spec in self.unavailable:
            group, expect = describe_check(check_id)
            return CheckRecord(id=check_id, tls_version=tls_version, target=spec, group=group, expected=expect,
                               presents="", verdict=SKIP, observed="not run", reason=self.unavailable[spec],
                               profile=self.profile.name if self.profile else "default")
        state = self.start(spec)
        started = time.monotonic()
        if check_id == MODE_CHECK:
            return self._mode_record(state, tls_version, started)
        if check_id == FUZZ_CHECK:
            return self._fuzz_record(state, tls_version, started)
        if check_id in PROBE_CHECKS:
            return self._probe_record(state, tls_version, PROBE_CHECKS[check_id], started, ahead)
        case = catalogue.get(check_id)
        base = dict(id=check_id, tls_version=tls_version, target=state.target.name, group=case.group,
                    expected=case.expect, presents=case.presents, profile=state.profile.name)
        skip = self._skip_reason(state, tls_version, case.missing(state.materials))
        skip = skip or _transport_skip(case, tls_version)
        if skip:
            return CheckRecord(verdict=SKIP, observed="not run", reason=skip, **base)
        cred = self.credential(state, check_id)
        log_offset = log_size(state.target.log_path)
        outcome = state.prober.probe(state.target.endpoint, cred,
                                     self.transport(state, tls_version, requests=case.requests))
        baseline = state.baselines[tls_version].valid
        if isinstance(outcome, Unreachable):
            if ahead:
                raise _Deferred
            dead = self._still_alive(state, tls_version, outcome)
            if dead is not None:
                return CheckRecord(verdict=SKIP, observed="not run", reason=self._stop(state, dead),
                                   outcome=to_dict(outcome), duration_ms=_ms(started), **base)
        verdict = judge(check_id, case.expect, outcome, baseline, state.profile)
        if cred is not None and outcome.evidence.certificate_sent is False:
            # Never judged as if it had been sent: the target saw a client without a certificate.
            verdict = not_sent(verdict, tls_version, _weakest_hash(cred), outcome.evidence.certificate_request_sigalgs,
                               case.presents)
        elif case.expect == "reject" and verdict.observed == "rejected":
            sibling = catalogue.valid_sibling(case, state.materials)
            if sibling is not None:
                verdict = against_sibling(verdict, sibling, self._sibling_outcome(state, tls_version, sibling), baseline)
        elif check_id == "accept.valid-intermediate" and verdict.status == FAIL and state.materials.has("identity"):
            verdict = intermediate_refused(verdict, self._sibling_outcome(state, tls_version, "accept.valid-direct"),
                                           baseline)
        if case.requests > 1 and verdict.status == PASS and "connections used: 1" not in outcome.evidence.detail:
            verdict = Verdict(FAIL, verdict.expected, verdict.observed,
                              f"the target did not keep the connection open ({outcome.evidence.detail})")
        duration = _ms(started)
        if ahead and verdict.status == FAIL and state.target.log_path is not None:
            raise _Deferred
        log = excerpt(state.target.log_path, log_offset) if verdict.status == FAIL else None
        if tls_version not in state.baseline_dicts:
            state.baseline_dicts[tls_version] = to_dict(baseline) if baseline else None
        if check_id not in state.summaries:
            state.summaries[check_id] = certificate_summary(cred)
        return CheckRecord(verdict=verdict.status, observed=verdict.observed, reason=verdict.reason,
                           outcome=to_dict(outcome), baseline=state.baseline_dicts[tls_version],
                           certificate=state.summaries[check_id], duration_ms=duration, log_excerpt=log, **base)

    def _sibling_outcome(self, state: TargetState, tls_version: str, sibling: str) -> Outcome:
        """What the valid sibling gets on this target and TLS version (probed once, then cached)."""
        key = (tls_version, sibling)
        if key not in state.siblings:
            if sibling in catalogue.BY_ID:
                cred = self.credential(state, sibling)
            else:
                cred_key = f"sibling:{sibling}"
                if cred_key not in state.credentials:
                    state.credentials[cred_key] = catalogue.build_sibling(sibling, state.materials)
                cred = state.credentials[cred_key]
            state.siblings[key] = state.prober.probe(state.target.endpoint, cred, self.transport(state, tls_version))
        return state.siblings[key]

    def _stop(self, state: TargetState, line: str) -> str:
        """The circuit breaker tripped on ``state``: stop the run, or (a fleet) only this target. The reason."""
        if self.isolate_targets:
            self.untestable[state.target.name] = line
            return f"target not tested: {line}"
        self.aborted = line
        return f"run stopped: {line}"

    def _not_run(self, spec: str, tls_version: str, check_id: str, reason: str) -> CheckRecord:
        group, expect = describe_check(check_id)
        presents = ("no certificate (preflight)" if check_id == MODE_CHECK else
                    "Hypothesis-generated chains" if check_id == FUZZ_CHECK else
                    PROBE_CHECKS[check_id].presents if check_id in PROBE_CHECKS else
                    catalogue.get(check_id).presents)
        state = self.states.get(spec)
        profile = state.profile.name if state else (self.profile.name if self.profile else "default")
        return CheckRecord(id=check_id, tls_version=tls_version, target=spec, group=group, expected=expect,
                           presents=presents, verdict=SKIP, observed="not run", reason=reason, profile=profile)

    def _probe_record(self, state: TargetState, tls_version: str, check: ProbeCheck, started: float,
                      ahead: bool = False) -> CheckRecord:
        """A check beyond "present one credential": its function makes the attempts, judge() decides each."""
        base = dict(id=check.id, tls_version=tls_version, target=state.target.name, group=check.group,
                    expected=check.expect, presents=check.presents, profile=state.profile.name)
        skip = state.baselines[tls_version].unsupported or check.transport_skip(tls_version) or self._skip_reason(
            state, tls_version, check.missing(state.materials, state.target))
        if skip:
            return CheckRecord(verdict=SKIP, observed="not run", reason=skip, **base)
        baseline = state.baselines[tls_version]
        valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
        ctx = CheckContext(check_id=check.id, expect=check.expect, target=state.target, prober=state.prober,
                           materials=state.materials, profile=state.profile, tls_version=tls_version,
                           timeout=self.probe_timeout, valid=valid, baseline_valid=baseline.valid,
                           baseline_none=baseline.none, ca_names=baseline.advertised_names)
        found = check.run(ctx)
        if ahead and isinstance(found.outcome, Unreachable):
            raise _Deferred
        if isinstance(found.outcome, Unreachable):
            dead = self._still_alive(state, tls_version, found.outcome)
            if dead is not None:
                return CheckRecord(verdict=SKIP, observed="not run", reason=self._stop(state, dead),
                                   outcome=to_dict(found.outcome), duration_ms=_ms(started), **base)
        verdict = found.verdict
        seen = found.backend_headers
        if seen is None and check.group == "headers" and verdict.status != SKIP:
            seen = ()  # a header check always reports what reached the backend, also when nothing did
        if verdict.status == FAIL and check.id in state.profile.unsupported:
            verdict = Verdict(UNSUPPORTED, verdict.expected, verdict.observed,
                              f"not supported by target: {state.profile.unsupported[check.id]} ({verdict.reason})")
        return CheckRecord(verdict=verdict.status, observed=verdict.observed, reason=verdict.reason,
                           outcome=to_dict(found.outcome) if found.outcome is not None else None,
                           baseline=to_dict(found.baseline) if found.baseline is not None else None,
                           certificate=certificate_summary(found.credential), duration_ms=_ms(started),
                           attempts=[a.to_dict() for a in found.attempts] or None,
                           backend_headers=[list(h) for h in seen] if seen is not None else None, **base)

    def _skip_reason(self, state: TargetState, tls_version: str, missing: list[str]) -> str | None:
        unsupported = state.baselines[tls_version].unsupported
        if unsupported:
            return unsupported
        if missing:
            return f"needs {' and '.join(missing)}"
        return None

    def _mode_record(self, state: TargetState, tls_version: str, started: float) -> CheckRecord:
        base = dict(id=MODE_CHECK, tls_version=tls_version, target=state.target.name, group="mode",
                    expected="reject", presents="no certificate (preflight)", profile=state.profile.name)
        baseline = state.baselines[tls_version]
        if baseline.unsupported:
            return CheckRecord(verdict=SKIP, observed="not run", reason=baseline.unsupported, **base)
        # Preflight already stopped the run if no certificate was even requested.
        verdict = judge(MODE_CHECK, "reject", baseline.none, baseline.valid, state.profile)
        requested = baseline.facts is not None and baseline.facts.cert_requested
        with_valid = f"; with a valid one, {describe(baseline.valid)}" if baseline.valid else ""
        if verdict.status == PASS:
            reason = f"a certificate is requested and required: without one, {describe(baseline.none)}{with_valid}"
        elif requested:
            reason = (f"a certificate is requested but not required (an optional mode): a client without one got "
                      f"{describe(baseline.none)}{with_valid}")
        else:
            reason = verdict.reason
        return CheckRecord(verdict=verdict.status, observed=verdict.observed, reason=reason,
                           outcome=to_dict(baseline.none),
                           baseline=to_dict(baseline.valid) if baseline.valid else None,
                           duration_ms=_ms(started), **base)


    def _fuzz_record(self, state: TargetState, tls_version: str, started: float) -> CheckRecord:
        """Run one fuzz campaign; the record carries its counts and the reproducers it wrote."""
        opts = self.fuzz
        base = dict(id=FUZZ_CHECK, tls_version=tls_version, target=state.target.name, group="fuzz", expected="oracle",
                    presents=f"Hypothesis-generated chains (profile {opts.profile}, {opts.count} examples)",
                    profile=state.profile.name)
        skip = self._skip_reason(state, tls_version, [] if state.target.client_ca is not None and
                                 state.materials.has("identity") else [catalogue.NEEDS_TEXT["client_ca"]])
        if skip:
            return CheckRecord(verdict=SKIP, observed="not run", reason=skip, **base)
        assert state.target.client_ca is not None
        baseline = state.baselines[tls_version].valid
        transport = self.transport(state, tls_version)
        campaign = Campaign(
            root=state.target.client_ca, pool=self.pool,
            oracle=Oracle((state.target.client_ca.cert,), max_intermediates=state.profile.max_intermediates),
            attempt=lambda cred: state.prober.probe(state.target.endpoint, cred, transport),
            valid=self.credential(state, "accept.valid-direct"), baseline=baseline,  # type: ignore[arg-type]
            max_depth=min(MAX_DEPTH, state.profile.max_intermediates + 1),  # one past the limit, no deeper
            depth_limit=state.profile.max_intermediates,
            out_of_time=lambda: self._out_of_time(4))  # an example and its liveness probe, each up to 2 timeouts
        result = campaign.run(opts)
        tally = result.tally
        repros = []
        for ex in result.disagreements:
            entry: dict[str, Any] = {"kind": ex.kind, "summary": ex.summary(), "differs_from_valid_in":
                                     differences(ex.chain), "rules": list(ex.key[1])}
            if opts.repro_dir is not None and ex.credential is not None and ex.outcome is not None:
                path = write_reproducer(opts.repro_dir, ex, target=state.target.name, tls_version=tls_version,
                                        profile=state.profile.name, flags=opts.replay_flags.get(
                                            state.target.name, f"--target {state.target.name}"), baseline=baseline)
                entry["reproducer"] = f"repro/{path.name}"  # relative to the reports directory
                entry["reproducer_path"] = str(path)
            repros.append(entry)
        observed = tally.line()
        if tally.liveness_failure:
            status, reason = FAIL, tally.liveness_failure
            if "stopped answering" in tally.liveness_failure:  # the circuit breaker: the rest would only time out
                self._stop(state, f"target {state.target.name} stopped answering during fuzz.oracle-agreement after "
                                  f"{tally.examples} examples; {self.checks_done} checks were done, the rest were not run")
        elif tally.lb_looser or tally.inconclusive:
            status, reason = FAIL, f"the target disagrees with the oracle: {observed}"
        elif tally.lb_stricter:
            status = WARN if state.profile.policy_for(FUZZ_CHECK) == "warn" else FAIL
            reason = f"the target is stricter than the oracle: {observed}"
        elif tally.examples == tally.unpresentable:
            status, reason = SKIP, (f"the run reached --max-duration before any example ({observed})" if
                                    tally.out_of_time else f"no generated chain could be presented ({observed})")
        else:
            status, reason = PASS, f"the target agrees with the oracle: {observed}"
        if repros:
            reason += "; reproducers: " + ", ".join(r.get("reproducer", r["summary"]) for r in repros)
        fuzz = {"profile": opts.profile, "oracle_policy": POLICY_VERSION, **tally.to_dict(), "disagreements": repros}
        # The campaign's evidence: the first disagreement's outcome, else what the valid client
        # got at the last liveness probe (the target still let it in after the last example).
        first = next((ex.outcome for ex in result.disagreements if ex.outcome is not None), campaign.last_alive)
        outcome = to_dict(first) if first is not None else None
        repro = next((r["reproducer"] for r in repros if r.get("reproducer")), None)
        return CheckRecord(verdict=status, observed=observed, reason=reason, duration_ms=_ms(started), fuzz=fuzz,
                           outcome=outcome, repro=repro, baseline=to_dict(baseline) if baseline else None, **base)


def _weakest_hash(cred: Credential) -> str | None:
    """The legacy signature hash in the chain sent (md5 before sha1), else the leaf's: what a server may refuse."""
    names = [signature_hash_name(c) for c in (cred.cert, *cred.chain)]
    return next((h for h in ("md5", "sha1") if h in names), names[0])


def _transport_skip(case: catalogue.Case, tls_version: str) -> str | None:
    """Why a catalogue check has no verdict over ``tls_version`` (None: it runs there).

    Several requests on one connection is an HTTP/1.1 keep-alive question over TCP; the QUIC
    probe sends one HTTP/3 request per connection.
    """
    if tls_version == QUIC and case.requests > 1:
        return f"not run over QUIC: {case.requests} requests on one connection are a TCP (HTTP/1.1) check"
    return None


def _attempts(check_id: str) -> int:
    """How many probe timeouts a check may cost at most (for --max-duration)."""
    if check_id in PROBE_CHECKS:
        return 10  # header batches, Host spellings, sessions, streams: a handful of attempts each
    return catalogue.get(check_id).requests


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


__all__ = ["SERIAL_CHECKS", "Gate"]

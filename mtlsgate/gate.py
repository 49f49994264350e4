"""One run of the suite: targets started, preflighted, probed, judged and recorded.

The pytest plugin is a thin shell around :class:`Gate`; everything a check does — build
the credential, probe, compare with the valid client's answer, judge under the profile —
happens here, so the same engine serves ``pytest`` and ``mtlsgate probe``.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from . import catalogue, registry
from .catalogue import Materials
from .errors import UntestableTarget
from .expect import FAIL, PASS, SKIP, UNSUPPORTED, WARN, Verdict, judge, observe
from .finding import CheckContext, ProbeCheck
from .fuzz import FUZZ_CHECK, Campaign, FuzzOptions
from .handshake import HandshakeFacts, inspect_handshake
from .keypool import KeyPool
from .logtail import excerpt, log_size
from .oracle import POLICY_VERSION, Oracle
from .outcome import Outcome, RejectedTLS, Unreachable, describe, to_dict
from .pki import Credential, key_description, signature_hash_name
from .probe import DEFAULT_RETRIES, TLS_VERSIONS, Prober, Transport
from .profiles import Profile
from .profiles import load as load_profile
from .repro import write_reproducer
from .strategies import MAX_DEPTH, differences
from .targets import Target, TargetOptions, open_target
from .targets.reference import ReferencePolicy

MODE_CHECK = "mode.client-auth-required"


@dataclass(frozen=True)
class CheckRecord:
    """One row of the report: a check on one target over one TLS version, with its evidence."""

    id: str
    tls_version: str
    target: str
    group: str
    verdict: str
    expected: str
    observed: str
    reason: str
    presents: str
    profile: str = "default"
    outcome: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    duration_ms: float = 0.0
    log_excerpt: str | None = None  # a local LB's log lines from a failed check (bounded, scrubbed)
    fuzz: dict[str, Any] | None = None  # fuzz.oracle-agreement: counts, disagreements, reproducer paths
    repro: str | None = None  # a reproducer directory (relative to the reports directory)
    attempts: list[dict[str, Any]] | None = None  # probe checks: every variant tried, with its outcome
    backend_headers: list[list[str]] | None = None  # header checks: identity headers the backend received

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class VersionBaseline:
    """What the target does with a valid client and with none, over one TLS version."""

    valid: Outcome | None
    none: Outcome
    facts: HandshakeFacts | None = None
    unsupported: str | None = None  # why this version cannot be tested on this target


@dataclass
class TargetState:
    target: Target
    prober: Prober
    materials: Materials
    profile: Profile
    baselines: dict[str, VersionBaseline] = field(default_factory=dict)
    credentials: dict[str, Credential | None] = field(default_factory=dict)
    # Report forms that do not change during a run, made once (the benchmark's hot path):
    summaries: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by check id
    baseline_dicts: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # by TLS version


def certificate_summary(cred: Credential | None) -> dict[str, Any] | None:
    """Public facts about the presented certificate, for the report (never the key)."""
    if cred is None:
        return None
    cert = cred.cert
    try:
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        ca: bool | None = bc.ca
    except x509.ExtensionNotFound:
        ca = None
    try:
        eku = [o._name for o in cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value]
    except x509.ExtensionNotFound:
        eku = None
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "X"),
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key": key_description(cert.public_key()),
        "signature_hash": signature_hash_name(cert),
        "ca": ca,
        "eku": eku,
        "chain_sent": [c.subject.rfc4514_string() for c in cred.chain],
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }


class Gate:
    """Owns the run's targets (started once, stopped at the end) and judges checks."""

    def __init__(self, *, target_specs: list[str], options: TargetOptions, profile: Profile | None, workdir: Path,
                 pool: KeyPool, tls_versions: tuple[str, ...] = TLS_VERSIONS, probe_timeout: float = 5.0,
                 reference_policy: ReferencePolicy | None = None, max_duration: float | None = None,
                 retries: int = DEFAULT_RETRIES, fuzz: FuzzOptions | None = None) -> None:
        self.target_specs = target_specs
        self.options = options
        self.profile = profile
        self.workdir = workdir
        self.pool = pool
        self.tls_versions = tls_versions
        self.probe_timeout = probe_timeout
        self.reference_policy = reference_policy
        self.fuzz = fuzz or FuzzOptions()
        self.states: dict[str, TargetState] = {}
        self.unavailable: dict[str, str] = {}  # targets whose LB binary is missing: their checks skip
        self._stack = contextlib.ExitStack()
        self.started_at = time.time()
        self.max_duration = max_duration
        self.retries = retries
        self._deadline = time.monotonic() + max_duration if max_duration else None
        #: Set once the run cannot go on (the target stopped answering, the time is up):
        #: every later check is recorded as not run, with this line as the reason.
        self.aborted: str | None = None
        self.checks_done = 0

    # -- lifecycle -------------------------------------------------------------------
    def start(self, spec: str) -> TargetState:
        """Start and preflight ``spec`` once; raises UntestableTarget with one line."""
        state = self.states.get(spec)
        if state is not None:
            return state
        workdir = self.workdir / f"t{len(self.states)}"
        target = self._stack.enter_context(open_target(
            spec, self.options, pool=self.pool, workdir=workdir,
            profile=self.profile.name if self.profile else None, reference_policy=self.reference_policy))
        profile = self.profile or load_profile(target.profile)
        materials = Materials(pool=self.pool, client_ca=target.client_ca, identity=target.identity,
                              revoked=target.revoked, server_ca_key=target.server_ca_key,
                              max_intermediates=profile.max_intermediates)
        state = TargetState(target, Prober(workdir, target.server_ca, retries=self.retries), materials, profile)
        self.states[spec] = state
        self._preflight(state)
        return state

    def close(self) -> None:
        self._stack.close()

    def transport(self, state: TargetState, tls_version: str, requests: int = 1) -> Transport:
        return Transport(tls_version=tls_version, server_name=state.target.server_name, requests=requests,
                         timeout=self.probe_timeout)

    # -- preflight -------------------------------------------------------------------
    def _preflight(self, state: TargetState) -> None:
        """Reachable, TLS, server certificate valid, client certificate required, valid client accepted?

        Any "no" makes every later verdict meaningless (a dead target rejects everyone),
        so it stops the run with one line instead of a wall of false results.
        """
        target = state.target
        valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
        tested = 0
        for version in self.tls_versions:
            if self._out_of_time(6):  # three attempts (none, valid, handshake look), each at most 2 timeouts
                raise UntestableTarget(self._out_of_time_line(f"while preflighting {target.name}"))
            transport = self.transport(state, version)
            none = state.prober.probe(target.endpoint, None, transport)
            if isinstance(none, Unreachable):
                raise UntestableTarget(self._unreachable_line(target, none))
            good = state.prober.probe(target.endpoint, valid, transport) if valid is not None else None
            baseline = VersionBaseline(valid=good, none=none)
            state.baselines[version] = baseline
            if _protocol_refused(none) and (good is None or _protocol_refused(good)):
                baseline.unsupported = f"the target does not speak TLS {version} ({describe(none)})"
                continue
            tested += 1
            if isinstance(good, Unreachable):
                raise UntestableTarget(self._unreachable_line(target, good))
            baseline.facts = inspect_handshake(target.endpoint, target.server_name, version, self.probe_timeout)
            if (not baseline.facts.cert_requested and baseline.facts.error and observe(none, good).result != "accepted"
                    and (good is None or observe(good, None).result != "accepted")):
                raise UntestableTarget(
                    f"target {target.name} breaks off the TLS {version} handshake before requesting a client "
                    f"certificate: a client without one got {describe(none)} ({baseline.facts.error})")
            if observe(none, good).result == "accepted" and not baseline.facts.cert_requested:
                raise UntestableTarget(
                    f"target {target.name} does not request client certificates over TLS {version}: a client "
                    f"without one got {describe(none)}" + (", like a valid client" if good else ""))
            if good is not None and observe(good, None).result != "accepted":
                raise UntestableTarget(
                    f"target {target.name} rejects a valid client over TLS {version} ({describe(good)}): "
                    "is the client CA the one the target trusts?")
            # The identity the user hands out (a kit's client.crt) must work too, not only the
            # one the suite minted: a SHA-1 client certificate fails here, not in production.
            ready = target.identity
            if good is not None and ready is not None and ready is not valid:
                got = state.prober.probe(target.endpoint, ready, transport)
                if observe(got, good).result != "accepted":
                    raise UntestableTarget(
                        f"target {target.name} rejects a valid client over TLS {version}: the given identity "
                        f"{ready.cert.subject.rfc4514_string()} ({key_description(ready.cert.public_key())}, "
                        f"{signature_hash_name(ready.cert) or 'EdDSA'}-signed) got {describe(got)}, while one the "
                        f"suite minted under the same CA got {describe(good)}; run mtlsgate lint on it")
        if tested == 0:
            raise UntestableTarget(f"target {target.name} speaks neither TLS {' nor '.join(self.tls_versions)}")

    # -- checks ----------------------------------------------------------------------
    def credential(self, state: TargetState, check_id: str) -> Credential | None:
        if check_id not in state.credentials:
            state.credentials[check_id] = catalogue.get(check_id).build(state.materials)
        return state.credentials[check_id]

    def run_check(self, spec: str, tls_version: str, check_id: str) -> CheckRecord:
        if self.aborted is None and check_id not in (MODE_CHECK, FUZZ_CHECK) and self._out_of_time(
                2 + 1 + _attempts(check_id)):  # the probe(s), and a liveness probe if it fails
            self.aborted = self._out_of_time_line(f"after {self.checks_done} checks")
        if self.aborted is not None:
            return self._not_run(spec, tls_version, check_id, f"run stopped: {self.aborted}")
        record = self._run_check(spec, tls_version, check_id)
        if record.observed != "not run":
            self.checks_done += 1
        return record

    def _run_check(self, spec: str, tls_version: str, check_id: str) -> CheckRecord:
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
        if check_id in registry.PROBE_CHECKS:
            return self._probe_record(state, tls_version, registry.PROBE_CHECKS[check_id], started)
        case = catalogue.get(check_id)
        base = dict(id=check_id, tls_version=tls_version, target=state.target.name, group=case.group,
                    expected=case.expect, presents=case.presents, profile=state.profile.name)
        skip = self._skip_reason(state, tls_version, case.missing(state.materials))
        if skip:
            return CheckRecord(verdict=SKIP, observed="not run", reason=skip, **base)
        cred = self.credential(state, check_id)
        log_offset = log_size(state.target.log_path)
        outcome = state.prober.probe(state.target.endpoint, cred,
                                     self.transport(state, tls_version, requests=case.requests))
        baseline = state.baselines[tls_version].valid
        if isinstance(outcome, Unreachable):
            dead = self._still_alive(state, tls_version, outcome)
            if dead is not None:
                self.aborted = dead
                return CheckRecord(verdict=SKIP, observed="not run", reason=f"run stopped: {dead}",
                                   outcome=to_dict(outcome), duration_ms=_ms(started), **base)
        verdict = judge(check_id, case.expect, outcome, baseline, state.profile)
        if cred is not None and _certificate_not_sent(outcome):
            verdict = Verdict(SKIP, verdict.expected, "not run", (
                f"not tested: the target answered certificate_required, so the client never sent this certificate "
                f"(OpenSSL does not send a chain whose signature the target's TLS {tls_version} CertificateRequest "
                "does not allow)"))
        if case.requests > 1 and verdict.status == PASS and "connections used: 1" not in outcome.evidence.detail:
            verdict = Verdict(FAIL, verdict.expected, verdict.observed,
                              f"the target did not keep the connection open ({outcome.evidence.detail})")
        duration = _ms(started)
        log = excerpt(state.target.log_path, log_offset) if verdict.status == FAIL else None
        if tls_version not in state.baseline_dicts:
            state.baseline_dicts[tls_version] = to_dict(baseline) if baseline else None
        if check_id not in state.summaries:
            state.summaries[check_id] = certificate_summary(cred)
        return CheckRecord(verdict=verdict.status, observed=verdict.observed, reason=verdict.reason,
                           outcome=to_dict(outcome), baseline=state.baseline_dicts[tls_version],
                           certificate=state.summaries[check_id], duration_ms=duration, log_excerpt=log, **base)

    def _unreachable_line(self, target: Target, outcome: Unreachable) -> str:
        tries = f" (tried {1 + outcome.evidence.retries} times)" if outcome.evidence.retries else ""
        return f"target {target.name} cannot be tested: {outcome.reason}{tries}"

    def _still_alive(self, state: TargetState, tls_version: str, outcome: Unreachable) -> str | None:
        """The circuit breaker: after an unreachable outcome, does a valid client still get in?

        ``None`` if it does (the check's own outcome stands); otherwise the one line that
        stops the run, so that a target that died mid-run is not reported as 80 timeouts.
        """
        valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
        live = state.prober.probe(state.target.endpoint, valid, self.transport(state, tls_version))
        if not isinstance(live, Unreachable):
            return None
        return (f"target {state.target.name} stopped answering mid-run ({outcome.reason}; then "
                f"{'a valid client' if valid else 'a client without a certificate'} got {describe(live)}); "
                f"{self.checks_done} checks were done, the rest were not run")

    def _out_of_time(self, timeouts: float = 0) -> bool:
        """Would ``timeouts`` probe timeouts from now end past ``--max-duration``?

        The run never starts an attempt that could end after its deadline, so the whole
        run stays within ``--max-duration`` (plus starting and stopping local targets).
        """
        if self._deadline is None:
            return False
        return time.monotonic() + timeouts * self.probe_timeout > self._deadline

    def _out_of_time_line(self, when: str) -> str:
        return f"the run reached --max-duration {self.max_duration:g}s {when}; the rest were not run"

    def _not_run(self, spec: str, tls_version: str, check_id: str, reason: str) -> CheckRecord:
        group, expect = describe_check(check_id)
        presents = ("no certificate (preflight)" if check_id == MODE_CHECK else
                    "Hypothesis-generated chains" if check_id == FUZZ_CHECK else
                    registry.PROBE_CHECKS[check_id].presents if check_id in registry.PROBE_CHECKS else
                    catalogue.get(check_id).presents)
        state = self.states.get(spec)
        profile = state.profile.name if state else (self.profile.name if self.profile else "default")
        return CheckRecord(id=check_id, tls_version=tls_version, target=spec, group=group, expected=expect,
                           presents=presents, verdict=SKIP, observed="not run", reason=reason, profile=profile)

    def _probe_record(self, state: TargetState, tls_version: str, check: ProbeCheck, started: float) -> CheckRecord:
        """A check beyond "present one credential": its function makes the attempts, judge() decides each."""
        base = dict(id=check.id, tls_version=tls_version, target=state.target.name, group=check.group,
                    expected=check.expect, presents=check.presents, profile=state.profile.name)
        skip = self._skip_reason(state, tls_version, check.missing(state.materials, state.target))
        if skip:
            return CheckRecord(verdict=SKIP, observed="not run", reason=skip, **base)
        baseline = state.baselines[tls_version]
        valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
        ctx = CheckContext(check_id=check.id, expect=check.expect, target=state.target, prober=state.prober,
                           materials=state.materials, profile=state.profile, tls_version=tls_version,
                           timeout=self.probe_timeout, valid=valid, baseline_valid=baseline.valid,
                           baseline_none=baseline.none, ca_names=baseline.facts.ca_names if baseline.facts else None)
        found = check.run(ctx)
        if isinstance(found.outcome, Unreachable):
            dead = self._still_alive(state, tls_version, found.outcome)
            if dead is not None:
                self.aborted = dead
                return CheckRecord(verdict=SKIP, observed="not run", reason=f"run stopped: {dead}",
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
                self.aborted = (f"target {state.target.name} stopped answering during fuzz.oracle-agreement after "
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


def _certificate_not_sent(outcome: Outcome) -> bool:
    """RFC 8446 §6.2: certificate_required means the server received no certificate at all.

    Then a check that presented one did not test what it names (an MD5-signed leaf offered
    to a Go server under TLS 1.3 is silently withheld by the client): a pass would be false.
    """
    return isinstance(outcome, RejectedTLS) and outcome.alert == "certificate_required"


def _attempts(check_id: str) -> int:
    """How many probe timeouts a check may cost at most (for --max-duration)."""
    if check_id in registry.PROBE_CHECKS:
        return 10  # header batches, Host spellings, sessions, streams: a handful of attempts each
    return catalogue.get(check_id).requests


def describe_check(check_id: str) -> tuple[str, str]:
    """(group, expected) of any known check id; an unknown id raises KeyError (a bug in the suite)."""
    if check_id == MODE_CHECK:
        return "mode", "reject"
    if check_id == FUZZ_CHECK:
        return "fuzz", "oracle"
    if check_id in registry.PROBE_CHECKS:
        entry = registry.PROBE_CHECKS[check_id]
        return entry.group, entry.expect
    case = catalogue.get(check_id)
    return case.group, case.expect


def _protocol_refused(outcome: Outcome) -> bool:
    return isinstance(outcome, RejectedTLS) and outcome.alert == "protocol_version"


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 2)


__all__ = ["Gate", "CheckRecord", "MODE_CHECK", "FUZZ_CHECK", "describe_check"]

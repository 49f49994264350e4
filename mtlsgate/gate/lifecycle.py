"""The targets of one run: opened once, preflighted, watched for liveness, stopped at the end.

A check may only be judged against a target that is known to be testable: reachable, TLS,
asking for and requiring a client certificate, and admitting a valid client. This module
owns that knowledge and the target's life — :class:`Targets` opens each target once,
preflights it (what a valid client and a client without a certificate get, per TLS
version), recognises the product from those answers (``--profile auto``) and chooses the
profile, trips the circuit breaker when a target stops answering mid-run, keeps the run
inside ``--max-duration``, and stops every target it started. Running and recording checks
is :mod:`mtlsgate.gate.runner`'s job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..checks import Materials, catalogue
from ..errors import UntestableTarget
from ..judge import Detection, Profile, available_profiles, detect, load_profile, observe, with_product
from ..pki import Credential, KeyPool, key_description, signature_hash_name
from ..targets import ReferencePolicy, Target, TargetOptions, TargetSpec, open_target
from ..wire import (
    DEFAULT_RETRIES,
    QUIC,
    TLS_VERSIONS,
    Accepted,
    HandshakeFacts,
    Outcome,
    Prober,
    RejectedTLS,
    Transport,
    Unreachable,
    describe,
    inspect_handshake,
)

#: The Host of the product-recognition probe: no target serves it (RFC 6761 ``.invalid``).
DETECT_HOST = "mtlsgate-detect.invalid"


@dataclass
class VersionBaseline:
    """What the target does with a valid client and with none, over one TLS version."""

    valid: Outcome | None
    none: Outcome | None  # None only when the version is not tested at all (``unsupported`` says why)
    facts: HandshakeFacts | None = None
    unsupported: str | None = None  # why this version cannot be tested on this target

    @property
    def advertised_names(self) -> tuple[str, ...] | None:
        """The CA names preflight saw advertised; None when it could not see them (no verdict on them)."""
        facts = self.facts
        return facts.ca_names if facts is not None and facts.names_known else None


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
    #: What each valid sibling got, by (TLS version, sibling id): probed once per target and version.
    siblings: dict[tuple[str, str], Outcome] = field(default_factory=dict)
    detection: Detection | None = None  # the product behind the target and the profile that means
    ready: threading.Lock = field(default_factory=threading.Lock)  # held while the target is preflighted
    preflighted: bool = False
    failure: Exception | None = None  # what the preflight raised
    auto: bool = False  # --profile auto (or none for a URL): the recognised product's profile, after preflight
    explicit: Profile | None = None  # the profile the user named (run-wide or the inventory entry's)
    extra_headers: tuple[tuple[str, str], ...] = ()  # the inventory entry's identity headers


class Targets:
    """Opens, preflights and stops the run's targets; knows whether each is still alive and the time left."""

    def __init__(self, *, options: TargetOptions, profile: Profile | None, workdir: Path, pool: KeyPool,
                 tls_versions: tuple[str, ...] = TLS_VERSIONS, probe_timeout: float = 5.0,
                 reference_policy: ReferencePolicy | None = None, max_duration: float | None = None,
                 retries: int = DEFAULT_RETRIES, force_quic: bool = False,
                 specs: Mapping[str, TargetSpec] | None = None) -> None:
        self.options = options
        #: ``--quic``: probe QUIC even when the target does not announce HTTP/3 (Alt-Svc).
        self.force_quic = force_quic
        #: Per target (by name): its URL and its own trust material and profile (``--targets-file``);
        #: a target not in here is a ``--target`` value with the run's flags.
        self.specs: Mapping[str, TargetSpec] = specs or {}
        self.profile = profile
        self.workdir = workdir
        self.pool = pool
        self.tls_versions = tls_versions
        self.probe_timeout = probe_timeout
        self.reference_policy = reference_policy
        self.retries = retries
        self.max_duration = max_duration
        self.states: dict[str, TargetState] = {}
        self.unavailable: dict[str, str] = {}  # targets whose LB binary is missing: their checks skip
        self._stack = contextlib.ExitStack()
        self._lock = threading.Lock()
        self._deadline = time.monotonic() + max_duration if max_duration else None

    def start(self, spec: str) -> TargetState:
        """Start and preflight ``spec`` once; raises UntestableTarget with one line."""
        with self._lock:  # opening (processes, files, the exit stack) is serial; preflights may overlap
            state = self.states.get(spec) or self._open(spec)
        with state.ready:
            if not state.preflighted:
                state.preflighted = True
                try:
                    self._preflight(state)
                    self._choose_profile(state)
                except Exception as exc:
                    state.failure = exc
                    raise
        if state.failure is not None:  # asked again: the same answer, never a half-preflighted target
            raise state.failure
        return state

    def start_many(self, specs: list[str], workers: int) -> dict[str, BaseException]:
        """Start and preflight ``specs`` on up to ``workers`` threads (a fleet's preflights overlap).

        Returns what each target that could not be started raised, in ``specs`` order; the
        caller decides, as for :meth:`start`, whether that stops the run.
        """
        if workers < 2 or len(specs) < 2:
            errors: dict[str, BaseException] = {}
            for spec in specs:
                try:
                    self.start(spec)
                except Exception as exc:  # noqa: BLE001 - handed back to the caller, in order
                    errors[spec] = exc
            return errors
        with ThreadPoolExecutor(max_workers=min(workers, len(specs)), thread_name_prefix="mtlsgate-preflight") as pool:
            futures = {spec: pool.submit(self.start, spec) for spec in specs}
        return {spec: f.exception() for spec, f in futures.items() if f.exception() is not None}  # type: ignore[misc]

    def _open(self, spec: str) -> TargetState:
        workdir = self.workdir / f"t{len(self.states)}"
        entry = self.spec(spec)
        target = self._stack.enter_context(open_target(
            entry.url, entry.options, pool=self.pool, workdir=workdir,
            profile=entry.profile or (self.profile.name if self.profile else None),
            reference_policy=self.reference_policy))
        if target.name != entry.name:  # an inventory entry's own name is the target's key in every report
            target = dataclasses.replace(target, name=entry.name)
        explicit = load_profile(entry.profile) if entry.profile and entry.profile != "auto" else self.profile
        auto = explicit is None and (entry.profile == "auto" or target.profile == "auto")
        profile = _with_headers(explicit or load_profile("default" if auto else target.profile), entry.identity_headers)
        materials = Materials(pool=self.pool, client_ca=target.client_ca, identity=target.identity,
                              revoked=target.revoked, server_ca_key=target.server_ca_key,
                              max_intermediates=profile.max_intermediates)
        state = TargetState(target, Prober(workdir, target.server_ca, retries=self.retries), materials, profile)
        self.states[spec] = state
        state.auto, state.explicit, state.extra_headers = auto, explicit, tuple(entry.identity_headers or ())
        return state

    def spec(self, name: str) -> TargetSpec:
        """The target named ``name``: its inventory entry, or a ``--target`` value with the run's flags."""
        return self.specs.get(name) or TargetSpec(name=name, url=name, options=self.options)

    def _choose_profile(self, state: TargetState) -> None:
        """The product's behaviour: its profile under ``auto``, its ``unsupported`` merged into the user's.

        A local target's product is known (its LB); an external one is recognised from what
        preflight saw (:func:`mtlsgate.judge.detect`), plus two probes: a self-signed client
        (older Go answers bad_certificate, OpenSSL unknown_ca) and a valid client asking for
        a Host the target does not serve (the LB answers by itself: its Server header, its page).
        """
        target = state.target
        if target.product is not None:
            name = target.product if target.product in available_profiles() else "default"
            state.detection = Detection(target.product, name, "known",
                                        f"the suite started it ({target.description or target.name})")
        else:
            bad = other = None
            version = next((v for v, b in state.baselines.items() if not b.unsupported), None)
            if version is not None and not self.out_of_time(4):
                transport = self.transport(state, version)
                bad = state.prober.probe(target.endpoint, self.credential(state, "reject.self-signed"), transport)
                valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
                if valid is not None:
                    other = state.prober.probe(target.endpoint, valid, replace(transport, host_header=DETECT_HOST))
            state.detection = detect(no_cert=[b.none for b in state.baselines.values() if not b.unsupported],
                                     valid=[b.valid for b in state.baselines.values() if not b.unsupported],
                                     bad_cert=[bad], other_host=[other], available=available_profiles())
        product = load_profile(state.detection.profile)
        if state.auto:
            chosen = product
        elif state.explicit is not None:
            chosen = with_product(state.explicit, product)
        else:
            return  # the target's own profile (local: its LB's; reference: reference)
        if chosen.max_intermediates != state.profile.max_intermediates:
            state.materials = replace(state.materials, max_intermediates=chosen.max_intermediates)
        state.profile = _with_headers(chosen, state.extra_headers)

    def close(self) -> None:
        """Stop every target this run started (local LBs by pid, the reference's threads)."""
        self._stack.close()

    def transport(self, state: TargetState, tls_version: str, requests: int = 1) -> Transport:
        return Transport(tls_version=tls_version, server_name=state.target.server_name, requests=requests,
                         timeout=self.probe_timeout)

    def _preflight(self, state: TargetState) -> None:
        """Reachable, TLS, server certificate valid, client certificate required, valid client accepted?

        Any "no" makes every later verdict meaningless (a dead target rejects everyone),
        so it stops the run with one line instead of a wall of false results.
        """
        target = state.target
        valid = self.credential(state, "accept.valid-direct") if state.materials.has("identity") else None
        tested = 0
        for version in self.tls_versions:
            if version == QUIC:
                continue  # after TCP: whether to try QUIC at all depends on what TCP answered
            if self.out_of_time(6):  # three attempts (none, valid, handshake look), each at most 2 timeouts
                raise UntestableTarget(self.out_of_time_line(f"while preflighting {target.name}"))
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
            if not baseline.facts.names_known:  # broken off before the CertificateRequest: look once more
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
        tcp = [v for v in self.tls_versions if v != QUIC]
        if tcp and tested == 0:
            raise UntestableTarget(f"target {target.name} speaks neither TLS {' nor '.join(tcp)}")
        if QUIC in self.tls_versions:
            state.baselines[QUIC] = self._preflight_quic(state, valid)

    def _preflight_quic(self, state: TargetState, valid: Credential | None) -> VersionBaseline:
        """QUIC only where the target offers HTTP/3 (or ``--quic``): no UDP waits on targets that never said h3.

        The offer is the ``Alt-Svc: h3`` of a valid client's answer over TCP. A target that
        offers HTTP/3 but does not answer it, or turns a valid client away over QUIC only, is
        not stopped: its TCP verdicts stand, and the QUIC column says why it is empty.
        """
        target = state.target
        if target.kind == "reference":
            return VersionBaseline(valid=None, none=None, unsupported=(
                "the target does not offer HTTP/3: the reference target is TCP-only (TLS 1.2 and 1.3)"))
        answers = [b.valid for v, b in state.baselines.items() if v != QUIC and b.valid is not None]
        if not answers and valid is not None and not self.force_quic:  # --tls-version quic alone: ask TCP once
            answers = [state.prober.probe(target.endpoint, valid, self.transport(state, "1.3"))]
        offer = _h3_offer(answers)
        if offer is None and not self.force_quic:
            seen = answers
            why = ("no Alt-Svc h3 on a valid client's answer over TCP" if seen else
                   "no valid client identity to see an Alt-Svc h3 announcement")
            return VersionBaseline(valid=None, none=None, unsupported=(
                f"the target does not offer HTTP/3 ({why}; --quic tries QUIC anyway)"))
        if self.out_of_time(4):
            raise UntestableTarget(self.out_of_time_line(f"while preflighting {target.name} over QUIC"))
        transport = self.transport(state, QUIC)
        none = state.prober.probe(target.endpoint, None, transport)
        offered = f"the target announces Alt-Svc {offer}" if offer else "--quic"
        if isinstance(none, Unreachable):
            tries = f" (tried {1 + none.evidence.retries} times)" if none.evidence.retries else ""
            return VersionBaseline(valid=None, none=none, unsupported=(
                f"QUIC was tried ({offered}) but cannot be tested: {none.reason}{tries}"))
        good = state.prober.probe(target.endpoint, valid, transport) if valid is not None else None
        baseline = VersionBaseline(valid=good, none=none)
        if good is not None and observe(good, None).result != "accepted":
            baseline.unsupported = (f"QUIC was tried ({offered}) but the target turns a valid client away over "
                                    f"QUIC ({describe(good)})")
        return baseline

    def release(self, spec: str) -> None:
        """``spec``'s checks are all reported: drop its credentials and TLS contexts (its verdicts stay)."""
        state = self.states.get(spec)
        if state is not None:
            state.credentials.clear()
            state.prober.release()

    def credential(self, state: TargetState, check_id: str) -> Credential | None:
        if check_id not in state.credentials:
            state.credentials[check_id] = catalogue.get(check_id).build(state.materials)
        return state.credentials[check_id]

    def _unreachable_line(self, target: Target, outcome: Unreachable) -> str:
        tries = f" (tried {1 + outcome.evidence.retries} times)" if outcome.evidence.retries else ""
        return f"target {target.name} cannot be tested: {outcome.reason}{tries}"

    def still_alive(self, state: TargetState, tls_version: str, outcome: Unreachable, checks_done: int) -> str | None:
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
                f"{checks_done} checks were done, the rest were not run")

    def out_of_time(self, timeouts: float = 0) -> bool:
        """Would ``timeouts`` probe timeouts from now end past ``--max-duration``?

        The run never starts an attempt that could end after its deadline, so the whole
        run stays within ``--max-duration`` (plus starting and stopping local targets).
        """
        if self._deadline is None:
            return False
        return time.monotonic() + timeouts * self.probe_timeout > self._deadline

    def out_of_time_line(self, when: str) -> str:
        return f"the run reached --max-duration {self.max_duration:g}s {when}; the rest were not run"


def _h3_offer(answers: list[Outcome]) -> str | None:
    """The ``Alt-Svc`` entry announcing HTTP/3 (``h3``, not a draft) on a valid client's TCP answer, if any."""
    for good in answers:
        if isinstance(good, Accepted) and good.evidence.alt_svc:
            entries = [e.strip() for e in good.evidence.alt_svc.split(",")]
            h3 = [e for e in entries if e.split("=", 1)[0].strip() == "h3"]
            if h3:
                return h3[0]
    return None


def _protocol_refused(outcome: Outcome | None) -> bool:
    return isinstance(outcome, RejectedTLS) and outcome.alert == "protocol_version"



def _with_headers(profile: Profile, headers: Any) -> Profile:
    """``profile`` plus an inventory entry's own identity headers (they win over the profile's)."""
    if not headers:
        return profile
    return dataclasses.replace(profile, identity_headers={**profile.identity_headers, **dict(headers)})


__all__ = ["Targets", "TargetState", "VersionBaseline", "DETECT_HOST"]

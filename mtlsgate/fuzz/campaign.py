"""The fuzz campaign: generated chains probed live and judged against the oracle.

Hypothesis generates (:mod:`mtlsgate.strategies`); each example is issued, probed once,
and classified against the oracle's three-valued verdict:

* ``agree`` — the target did what the oracle demands (or the oracle leaves it open);
* ``lb-looser`` — the target accepted what must be rejected (always a failure);
* ``lb-stricter`` — the target rejected what must be accepted (a failure under a profile
  whose policy for ``fuzz.oracle-agreement`` is ``fail``, e.g. ``strict``; a warning else);
* ``inconclusive`` — no answer (timeout, crash): a failure, the target may hang on it.

After every example a valid client must still be accepted (liveness), or the campaign
stops and fails. The test body never raises, so every requested example runs and the
count in the report is exact. Disagreements are then shrunk by :func:`Campaign.shrink`
toward the *valid chain* (not toward Hypothesis' smallest draw): a reproducer then
differs from a client the target accepts in exactly the fields that matter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..judge import Observation, observe
from ..pki import Credential, KeyPool, key_description
from ..wire import Outcome, describe
from .oracle import MUST_ACCEPT, MUST_REJECT, Oracle, OracleVerdict
from .strategies import MAX_DEPTH, ChainSpec, build_chain, chains, differences, other_roots, shrink_moves

FUZZ_CHECK = "fuzz.oracle-agreement"

AGREE, LOOSER, STRICTER, INCONCLUSIVE = "agree", "lb-looser", "lb-stricter", "inconclusive"

#: Hypothesis settings per profile. ``ci`` is the default of every run, a plain ``pytest``
#: included: derandomized (the same chains every run), a small fixed count, no deadline
#: (a live probe's latency is the target's, not ours), no example database.
#: (Hypothesis is imported when a campaign runs, not with this module: see ``_common_settings``.)
PROFILES: dict[str, dict[str, Any]] = {
    "ci": dict(max_examples=25, derandomize=True, database=None),
    "dev": dict(max_examples=100, derandomize=False, database=None),
    "thorough": dict(max_examples=1000, derandomize=False, database=None),
}
MAX_EXAMPLES = 100_000


def _common_settings() -> dict[str, Any]:
    from hypothesis import HealthCheck, Phase, Verbosity

    return dict(deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.generate],
                report_multiple_bugs=False, verbosity=Verbosity.quiet)


@dataclass(frozen=True)
class FuzzOptions:
    """How a run fuzzes: the Hypothesis profile, an optional count, where reproducers go."""

    profile: str = "ci"
    examples: int | None = None  # overrides the profile's count
    repro_dir: Path | None = None
    replay_flags: dict[str, str] = field(default_factory=dict)  # target -> flags that reach it again
    max_reproducers: int = 5  # distinct disagreements shrunk and written per campaign
    shrink_budget: int = 80  # live attempts per shrink

    def settings(self) -> Any:
        """Hypothesis ``settings`` for this run's profile (imports Hypothesis)."""
        from hypothesis import settings

        chosen = dict(PROFILES[self.profile])
        if self.examples is not None:
            chosen["max_examples"] = self.examples
        return settings(**_common_settings(), **chosen)

    @property
    def count(self) -> int:
        return self.examples if self.examples is not None else int(PROFILES[self.profile]["max_examples"])


@dataclass(frozen=True, eq=False)
class Example:
    chain: ChainSpec
    credential: Credential | None
    oracle: OracleVerdict | None
    outcome: Outcome | None
    seen: Observation | None
    kind: str  # AGREE | LOOSER | STRICTER | INCONCLUSIVE | "unpresentable"
    note: str = ""

    @property
    def key(self) -> tuple[str, tuple[str, ...]]:
        return (self.kind, self.oracle.rules if self.oracle else ())

    def summary(self) -> str:
        if self.oracle is None or self.outcome is None:
            return f"{self.kind}: {self.note}"
        return f"{self.kind}: oracle {self.oracle.summary()}; target {describe(self.outcome)}"


class _Stop(Exception):
    """Ends the Hypothesis loop early (liveness lost, or --max-duration reached)."""


def classify(verdict: OracleVerdict, seen: Observation) -> str:
    if seen.result == "inconclusive":
        return INCONCLUSIVE
    if verdict.verdict == MUST_REJECT and seen.result == "accepted":
        return LOOSER
    if verdict.verdict == MUST_ACCEPT and seen.result == "rejected":
        return STRICTER
    return AGREE


@dataclass
class Tally:
    examples: int = 0
    agree_accepted: int = 0
    agree_rejected: int = 0
    undefined_accepted: int = 0
    undefined_rejected: int = 0
    lb_looser: int = 0
    lb_stricter: int = 0
    inconclusive: int = 0
    unpresentable: int = 0
    liveness_failure: str | None = None
    out_of_time: bool = False  # stopped at --max-duration before the requested count
    seconds: float = 0.0

    def add(self, ex: Example) -> None:
        self.examples += 1
        if ex.kind == "unpresentable":
            self.unpresentable += 1
        elif ex.kind == LOOSER:
            self.lb_looser += 1
        elif ex.kind == STRICTER:
            self.lb_stricter += 1
        elif ex.kind == INCONCLUSIVE:
            self.inconclusive += 1
        else:
            assert ex.oracle is not None and ex.seen is not None
            accepted = ex.seen.result == "accepted"
            if ex.oracle.verdict in (MUST_ACCEPT, MUST_REJECT):
                self.agree_accepted += accepted
                self.agree_rejected += not accepted
            else:
                self.undefined_accepted += accepted
                self.undefined_rejected += not accepted

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["seconds"] = round(self.seconds, 3)
        d["examples_per_second"] = round(self.examples / self.seconds, 2) if self.seconds else None
        return d

    def line(self) -> str:
        parts = [f"{self.examples} examples", f"{self.agree_accepted + self.agree_rejected} agree",
                 f"{self.undefined_accepted + self.undefined_rejected} implementation-defined",
                 f"{self.lb_looser} LB-looser", f"{self.lb_stricter} LB-stricter"]
        if self.inconclusive:
            parts.append(f"{self.inconclusive} inconclusive")
        if self.out_of_time:
            parts.append("stopped early at --max-duration")
        if self.unpresentable:
            parts.append(f"{self.unpresentable} not issued or not sent (openssl will not re-sign a not-yet-valid "
                         "certificate with SHA-1/MD5; our client withholds some legacy ones)")
        return ", ".join(parts)


@dataclass
class CampaignResult:
    tally: Tally
    disagreements: list[Example]  # shrunk, one per distinct (kind, rules)
    first_seen: list[Example]  # the unshrunk originals, same order


class Campaign:
    """Runs examples against one target over one TLS version.

    ``attempt`` is the live probe (a credential in, an outcome out); ``baseline`` is what a
    valid client got in preflight, against which every outcome is observed.
    """

    def __init__(self, *, root: Credential, pool: KeyPool, oracle: Oracle, attempt: Callable[[Credential], Outcome],
                 valid: Credential, baseline: Outcome | None, max_depth: int = MAX_DEPTH,
                 depth_limit: int | None = None, out_of_time: Callable[[], bool] | None = None) -> None:
        self.root = root
        self.pool = pool
        self.oracle = oracle
        self.attempt = attempt
        self.valid = valid
        self.baseline = baseline
        self.max_depth = max_depth
        self.depth_limit = depth_limit
        self.out_of_time = out_of_time or (lambda: False)  # the run's --max-duration budget
        self.last_alive: Outcome | None = None  # what the valid client got at the last liveness probe
        self._roots: dict[str, Credential] | None = None  # other_roots(): where a share of chains ends

    def try_chain(self, chain: ChainSpec) -> Example:
        issued = self.issue(chain)
        return issued if isinstance(issued, Example) else self.judge(chain, issued, self.present(chain, issued))

    def issue(self, chain: ChainSpec) -> Credential | Example:
        try:
            if self._roots is None:  # the rogue roots, made once per campaign
                self._roots = other_roots(self.root, self.pool)
            return build_chain(chain, self.root, self.pool, self._roots)
        except (ValueError, RuntimeError) as exc:  # e.g. openssl will not re-sign a not-yet-valid certificate
            return Example(chain, None, None, None, None, "unpresentable", f"could not be issued: {exc}")

    def present(self, chain: ChainSpec, cred: Credential) -> Outcome | Example:
        try:
            return self.attempt(cred)
        except (OSError, ValueError) as exc:  # our own client refused to load it (ssl.SSLError is an OSError)
            return Example(chain, cred, None, None, None, "unpresentable", f"our client cannot present it: {exc}")

    def judge(self, chain: ChainSpec, cred: Credential, outcome: Outcome | Example) -> Example:
        if isinstance(outcome, Example):
            return outcome
        if outcome.evidence.certificate_sent is False:
            # The probe saw our client send an empty Certificate message: it withheld this chain
            # (e.g. an MD5-signed leaf the server's signature_algorithms_cert excludes), and the
            # target judged a client without one, accepted or not: nothing was tested.
            algs = outcome.evidence.certificate_request_sigalgs
            allowed = f"; the server allows {', '.join(algs)}" if algs else ""
            return Example(chain, cred, None, outcome, None, "unpresentable",
                           f"our client withheld it (sent no certificate){allowed}")
        verdict = self.oracle.judge(cred.cert, cred.chain)
        seen = observe(outcome, self.baseline)
        return Example(chain, cred, verdict, outcome, seen, classify(verdict, seen))

    def alive(self) -> str | None:
        """None while a valid client is still accepted; else what it got."""
        outcome = self.attempt(self.valid)
        self.last_alive = outcome
        seen = observe(outcome, self.baseline)
        if seen.result == "accepted":
            return None
        gone = " (the target stopped answering)" if seen.result == "inconclusive" else ""
        return f"after a generated chain, a valid client was no longer accepted{gone}: {describe(outcome)}"

    def run(self, options: FuzzOptions) -> CampaignResult:
        tally = Tally()
        found: dict[tuple[str, tuple[str, ...]], Example] = {}
        started = time.monotonic()
        root_key = key_description(self.root.key)

        # The liveness probe after example n runs in a second thread while example n+1 is
        # drawn and issued (CPU work of ours); it is settled before example n+1 is probed,
        # so "a valid client is still accepted after each example" holds as stated.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mtlsgate-liveness") as pool:
            pending: list[Future[str | None]] = []

            def settle() -> None:
                while pending:
                    failure = pending.pop().result()
                    if failure and tally.liveness_failure is None:
                        tally.liveness_failure = failure

            from hypothesis import given

            @options.settings()
            @given(chains(root_key=root_key, max_depth=self.max_depth, depth_limit=self.depth_limit))
            def body(chain: ChainSpec) -> None:
                if tally.liveness_failure is not None or tally.out_of_time:
                    raise _Stop()  # the target is gone, or the time is up: no more draws
                if self.out_of_time():
                    tally.out_of_time = True
                    raise _Stop()
                issued = self.issue(chain)
                settle()
                if tally.liveness_failure is not None:
                    raise _Stop()
                if isinstance(issued, Example):
                    tally.add(issued)
                    return
                outcome = self.present(chain, issued)
                pending.append(pool.submit(self.alive))
                ex = self.judge(chain, issued, outcome)
                tally.add(ex)
                if ex.kind in (LOOSER, STRICTER, INCONCLUSIVE):
                    found.setdefault(ex.key, ex)

            try:
                body()
            except _Stop:
                pass
            settle()
        tally.seconds = time.monotonic() - started
        originals = list(found.values())[: options.max_reproducers]
        shrunk: list[Example] = []
        for ex in originals:
            small = self.shrink(ex, options.shrink_budget) if ex.kind != INCONCLUSIVE else ex
            if all(differences(s.chain) != differences(small.chain) or s.kind != small.kind for s in shrunk):
                shrunk.append(small)
        if shrunk and tally.liveness_failure is None:
            tally.liveness_failure = self.alive()
        return CampaignResult(tally, shrunk, originals)

    def shrink(self, example: Example, budget: int) -> Example:
        """Greedy: take any one-step move toward the valid chain that keeps the same kind of disagreement."""
        current = example
        attempts = 0
        progress = True
        while progress and attempts < budget:
            progress = False
            for _name, candidate in shrink_moves(current.chain):
                if attempts >= budget:
                    break
                attempts += 1
                trial = self.try_chain(candidate)
                if trial.kind == example.kind:
                    current = trial
                    progress = True
                    break
        return current


__all__ = ["Campaign", "CampaignResult", "Example", "FuzzOptions", "FUZZ_CHECK", "PROFILES", "Tally", "classify", "AGREE", "LOOSER", "STRICTER", "INCONCLUSIVE", "MAX_EXAMPLES"]

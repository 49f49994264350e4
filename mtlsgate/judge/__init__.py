"""From an outcome to a verdict: expectation profiles and the judging rules.

``profiles`` reads what a target may do (TOML in ``fixtures/profiles/``); ``expect`` compares
an outcome with the valid client's answer on the same URL and decides pass, fail, warn,
skip, unsupported or inconclusive.

May import: :mod:`mtlsgate.wire`, :mod:`mtlsgate.pki`, :mod:`mtlsgate.errors`.
"""

from __future__ import annotations

from .expect import (
    FAIL,
    INCONCLUSIVE,
    INTERMEDIATE_CAUSES,
    PASS,
    SKIP,
    UNSUPPORTED,
    WARN,
    Observation,
    Verdict,
    against_sibling,
    intermediate_refused,
    judge,
    not_sent,
    observe,
)
from .profiles import (
    CA_NAMES_VALUES,
    IDENTITY_KINDS,
    POLICY_VALUES,
    SIGNALS,
    Profile,
    fixtures_dir,
)
from .profiles import (
    available as available_profiles,
)
from .profiles import (
    load as load_profile,
)

__all__ = [
    "SIGNALS",
    "POLICY_VALUES",
    "CA_NAMES_VALUES",
    "IDENTITY_KINDS",
    "fixtures_dir",
    "Profile",
    "available_profiles",
    "load_profile",
    "PASS",
    "FAIL",
    "WARN",
    "SKIP",
    "UNSUPPORTED",
    "INCONCLUSIVE",
    "not_sent",
    "against_sibling",
    "INTERMEDIATE_CAUSES",
    "intermediate_refused",
    "Observation",
    "observe",
    "Verdict",
    "judge",
]

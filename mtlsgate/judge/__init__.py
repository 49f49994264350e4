"""From an outcome to a verdict: expectation profiles and the judging rules.

``profiles`` reads what a target may do (TOML in ``fixtures/profiles/``); ``detect`` recognises
the product behind a target's answers (``--profile auto``); ``expect`` compares
an outcome with the valid client's answer on the same URL and decides pass, fail, warn,
skip, unsupported or inconclusive.

May import: :mod:`mtlsgate.wire`, :mod:`mtlsgate.pki`, :mod:`mtlsgate.errors`.
"""

from __future__ import annotations

from .detect import ECHO_SERVER, GO_NOT_FOUND, NGINX_PAGES, SERVER_SIGNS, Detection, detect
from .expect import (
    FAIL,
    INCONCLUSIVE,
    INTERMEDIATE_CAUSES,
    NOT_APPLICABLE,
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
    UNOWNED_VALUES,
    Profile,
    fixtures_dir,
    with_product,
)
from .profiles import (
    available as available_profiles,
)
from .profiles import (
    load as load_profile,
)

__all__ = [
    "NOT_APPLICABLE",
    "SIGNALS",
    "POLICY_VALUES",
    "CA_NAMES_VALUES",
    "IDENTITY_KINDS",
    "UNOWNED_VALUES",
    "fixtures_dir",
    "Profile",
    "available_profiles",
    "load_profile",
    "with_product",
    "Detection",
    "detect",
    "SERVER_SIGNS",
    "NGINX_PAGES",
    "GO_NOT_FOUND",
    "ECHO_SERVER",
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

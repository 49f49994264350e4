"""The judgement table: outcome x baseline x profile -> verdict."""

from __future__ import annotations

import pytest

from mtlsgate.judge.expect import judge, observe
from mtlsgate.judge.profiles import Profile, load
from mtlsgate.wire.outcome import Accepted, Misdirected, RejectedEOF, RejectedHTTP, RejectedTLS, Unreachable

DEFAULT = load("default")
STRICT = load("strict")
ECHO = (("X-SSL-Client-Verify", "SUCCESS"),)

OK_200_BACKEND = Accepted(200, ECHO)
OK_404_NO_ECHO = RejectedHTTP(404, "Not Found")
OK_200_NO_ECHO = Accepted(200)


@pytest.mark.parametrize("outcome,baseline,result", [
    (RejectedTLS("unknown_ca", "handshake"), OK_200_BACKEND, "rejected"),
    (RejectedEOF("after-handshake"), OK_200_BACKEND, "rejected"),
    (Misdirected(), OK_200_BACKEND, "rejected"),
    (RejectedHTTP(400, "No required SSL certificate was sent"), OK_200_BACKEND, "rejected"),
    (Accepted(200, ECHO), OK_200_BACKEND, "accepted"),
    # the backend answers 404 on / to everyone: a 404 is the valid client's answer, so accepted
    (RejectedHTTP(404, "Not Found"), OK_404_NO_ECHO, "accepted"),
    # ...and a 400 there is a different 4xx: rejected
    (RejectedHTTP(400, "Bad Request"), OK_404_NO_ECHO, "rejected"),
    # the LB answered 200 itself where a valid client reaches the backend: not exposed
    (Accepted(200), OK_200_BACKEND, "rejected"),
    (Accepted(200), OK_200_NO_ECHO, "accepted"),
    (Accepted(302), OK_200_NO_ECHO, "accepted"),  # never a false PASS on an unexplained answer
    (Unreachable("timed out"), OK_200_BACKEND, "inconclusive"),
])
def test_observation_against_the_valid_clients_answer(outcome, baseline, result):
    assert observe(outcome, baseline).result == result


def test_reject_check_passes_on_any_signal_in_default_but_only_tls_in_strict():
    nginx_400 = RejectedHTTP(400, "The SSL certificate error")
    assert judge("reject.expired", "reject", nginx_400, OK_200_BACKEND, DEFAULT).status == "pass"
    strict = judge("reject.expired", "reject", nginx_400, OK_200_BACKEND, STRICT)
    assert strict.status == "fail" and "strict" in strict.reason
    alert = RejectedTLS("certificate_expired", "after-handshake")
    assert judge("reject.expired", "reject", alert, OK_200_BACKEND, STRICT).status == "pass"


def test_accepted_bad_client_fails():
    verdict = judge("reject.rogue-ca", "reject", OK_200_BACKEND, OK_200_BACKEND, DEFAULT)
    assert verdict.status == "fail" and "accepted" in verdict.reason


def test_policy_checks_warn_in_default_and_fail_in_strict():
    assert judge("reject.ca-as-leaf", "reject", OK_200_BACKEND, OK_200_BACKEND, DEFAULT).status == "warn"
    assert judge("reject.ca-as-leaf", "reject", OK_200_BACKEND, OK_200_BACKEND, STRICT).status == "fail"


def test_rejected_valid_client_fails_and_unreachable_is_never_a_pass():
    assert judge("accept.valid-direct", "accept", RejectedTLS("unknown_ca", "handshake"), None, DEFAULT).status == "fail"
    assert judge("reject.no-cert", "reject", Unreachable("refused"), OK_200_BACKEND, DEFAULT).status == "fail"


def test_unsupported_checks_are_reported_as_such_not_passed():
    profile = Profile("caddy", unsupported={"reject.revoked": "Caddy has no CRL for client certificates"})
    verdict = judge("reject.revoked", "reject", OK_200_BACKEND, OK_200_BACKEND, profile)
    assert verdict.status == "unsupported" and "CRL" in verdict.reason
    # a target that does reject is still a pass
    assert judge("reject.revoked", "reject", RejectedTLS("certificate_revoked", "handshake"), OK_200_BACKEND,
                 profile).status == "pass"

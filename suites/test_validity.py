"""Validity: a certificate outside its validity window does not authenticate."""


def test_expired_leaf_is_rejected(gate):
    gate.check("reject.expired")


def test_not_yet_valid_leaf_is_rejected(gate):
    gate.check("reject.not-yet-valid")


def test_valid_leaf_under_an_expired_intermediate_is_rejected(gate):
    gate.check("reject.expired-intermediate")

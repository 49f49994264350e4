"""Chain: the target builds the path from what it trusts and what the client sends, no further."""


def test_leaf_whose_intermediate_is_unknown_and_not_sent_is_rejected(gate):
    gate.check("reject.missing-intermediate")


def test_chain_deeper_than_allowed_is_rejected_or_reported_by_profile(gate):
    gate.check("reject.too-deep")

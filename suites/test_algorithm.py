"""Algorithm: broken signature hashes and weak keys do not authenticate."""


def test_leaf_signed_with_sha1_is_rejected(gate):
    gate.check("reject.sha1-signature")


def test_leaf_signed_with_md5_is_rejected(gate):
    gate.check("reject.md5-signature")


def test_leaf_with_rsa_1024_key_is_rejected_or_reported_by_profile(gate):
    gate.check("reject.rsa-1024")

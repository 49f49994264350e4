"""Revocation: a certificate on the target's CRL does not authenticate."""


def test_revoked_client_is_rejected(gate):
    gate.check("reject.revoked")

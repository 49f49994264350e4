"""Missing: a client that presents no certificate is refused."""


def test_client_without_a_certificate_is_rejected(gate):
    gate.check("reject.no-cert")


def test_valid_certificate_without_proof_of_possession_of_its_key_is_rejected(gate):
    gate.check("reject.no-proof-of-possession")

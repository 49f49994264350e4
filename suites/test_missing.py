"""Missing: a client that presents no certificate is refused."""


def test_client_without_a_certificate_is_rejected(gate):
    gate.check("reject.no-cert")

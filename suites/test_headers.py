"""Headers: the backend learns the verified identity, and only from the LB (needs --echo-backend)."""


def test_backend_receives_the_client_identity_in_the_products_format(gate):
    gate.check("headers.forwarded-identity")


def test_forged_identity_headers_without_a_certificate_never_reach_the_backend(gate):
    gate.check("headers.spoof-without-cert")


def test_forged_identity_headers_with_a_valid_certificate_never_reach_the_backend(gate):
    gate.check("headers.spoof-with-cert")


def test_verify_header_distinguishes_no_certificate_from_a_verified_one(gate):
    gate.check("headers.verify-distinguishes-none")

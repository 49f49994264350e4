"""Mode: the listener requests a client certificate and requires one (checked in preflight)."""


def test_listener_requests_and_requires_a_client_certificate(gate):
    gate.check("mode.client-auth-required")

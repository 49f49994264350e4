"""Trust: only certificates that chain to the configured client CA authenticate."""


def test_leaf_from_an_unrelated_ca_is_rejected(gate):
    gate.check("reject.rogue-ca")


def test_leaf_from_a_rogue_ca_with_the_trusted_ca_exact_name_is_rejected(gate):
    gate.check("reject.rogue-same-name")


def test_self_signed_leaf_is_rejected(gate):
    gate.check("reject.self-signed")


def test_leaf_issued_by_the_server_certificate_ca_is_rejected(gate):
    gate.check("reject.server-ca-issued")


def test_advertised_ca_names_are_exactly_the_configured_client_cas(gate):
    gate.check("trust.ca-names")

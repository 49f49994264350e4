"""Purpose: a certificate not meant for TLS client authentication does not authenticate."""


def test_leaf_with_server_auth_eku_only_is_rejected(gate):
    gate.check("reject.eku-server-only")


def test_leaf_without_digital_signature_key_usage_is_rejected(gate):
    gate.check("reject.ku-no-digital-signature")


def test_ca_certificate_as_leaf_is_rejected_or_reported_by_profile(gate):
    gate.check("reject.ca-as-leaf")


def test_leaf_below_a_path_length_zero_intermediate_violation_is_rejected(gate):
    gate.check("reject.pathlen-violation")


def test_leaf_with_an_unknown_critical_extension_is_rejected(gate):
    gate.check("reject.unknown-critical-extension")

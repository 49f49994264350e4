"""Bypass: the protected name stays protected whatever name, session or protocol the connection was opened with."""


def test_sni_of_another_name_with_host_of_the_protected_name_is_rejected_or_misdirected(gate):
    gate.check("bypass.sni-host-mismatch")


def test_no_sni_with_host_of_the_protected_name_is_rejected(gate):
    gate.check("bypass.no-sni")


def test_session_resumed_under_another_name_is_refused_or_reverified(gate):
    gate.check("bypass.resumption-cross-host")


def test_http2_stream_for_the_protected_name_on_another_names_connection_is_rejected(gate):
    gate.check("bypass.h2-coalescing")


def test_every_client_rejected_over_tcp_is_rejected_over_quic_too(gate):
    gate.check("bypass.h3-parity")


def test_protected_name_spelled_in_another_case_or_with_a_trailing_dot_as_quic_sni_is_rejected(gate):
    gate.check("bypass.h3-sni-case")

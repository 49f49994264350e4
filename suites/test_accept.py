"""Accept: every kind of valid client gets in — otherwise every rejection below proves nothing."""


def test_valid_leaf_issued_directly_by_the_client_ca_is_accepted(gate):
    gate.check("accept.valid-direct")


def test_valid_leaf_under_an_intermediate_sending_its_chain_is_accepted(gate):
    gate.check("accept.valid-intermediate")


def test_valid_rsa_2048_leaf_is_accepted(gate):
    gate.check("accept.rsa-2048")


def test_valid_ecdsa_p384_leaf_is_accepted(gate):
    gate.check("accept.ecdsa-p384")


def test_several_requests_on_one_connection_stay_authenticated(gate):
    gate.check("accept.keep-alive")

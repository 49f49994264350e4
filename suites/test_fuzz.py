"""Fuzz: generated chains, each probed live and judged against the independent oracle."""


def test_target_agrees_with_the_oracle_on_generated_chains(gate):
    gate.check("fuzz.oracle-agreement")

"""Profiles are data; bad ones are one clear usage error."""

from __future__ import annotations

import pytest

from mtlsgate.errors import UsageError
from mtlsgate.judge.profiles import available, load


def test_builtin_profiles():
    assert {"default", "strict"} <= set(available())
    default, strict = load("default"), load("strict")
    assert "http-4xx" in default.rejection_signals and "http-4xx" not in strict.rejection_signals
    assert default.policy_for("reject.ca-as-leaf") == "warn" and strict.policy_for("reject.ca-as-leaf") == "fail"
    assert default.policy_for("reject.expired") == "fail"


def test_extends_and_override(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('extends = "default"\nname = "mine"\n[unsupported]\n"reject.revoked" = "no CRL support"\n')
    profile = load(str(path))
    assert profile.name == "mine" and profile.unsupported == {"reject.revoked": "no CRL support"}
    assert profile.policy_for("reject.rsa-1024") == "warn"


@pytest.mark.parametrize("text,message", [
    ('nmae = "x"\n', "unknown key"),
    ('max_intermediates = "three"\n', "max_intermediates must be a int"),
    ('rejection_signals = ["smoke"]\n', "rejection_signals"),
    ('[policy]\n"reject.expired" = "maybe"\n', "policy for reject.expired"),
    ('name = \n', "profile"),
])
def test_bad_profiles_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        load(str(path))


def test_unknown_profile_name_lists_the_available_ones():
    with pytest.raises(UsageError, match="available: .*default"):
        load("no-such-profile")

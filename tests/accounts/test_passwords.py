from __future__ import annotations

import time

import pytest

from nvrd.accounts.passwords import (
    DEFAULT_PARAMS,
    HashFormatError,
    PasswordPolicyError,
    ScryptParams,
    Strength,
    ViolationCode,
    check_password,
    dummy_hash,
    hash_password,
    needs_rehash,
    require_valid,
    strength,
    verify_password,
)
from tests.accounts.helpers import FAST


@pytest.mark.parametrize(("password", "code", "fragment"), [
    ("Ab1$xyq", ViolationCode.TOO_SHORT, "at least 8 characters"),
    ("Ab1$" + "xq7Z" * 8, ViolationCode.TOO_LONG, "at most 32 characters"),
    ("Kx9#mQ 2vLp", ViolationCode.INVALID_CHARACTERS, "no spaces"),
    ("Kx9#mQ2vLé", ViolationCode.INVALID_CHARACTERS, "accented"),
    ("Kx9'mQ2vLp", ViolationCode.FORBIDDEN_CHARACTERS, "' \" ; : &"),
    ('Kx9"mQ2vLp', ViolationCode.FORBIDDEN_CHARACTERS, "must not contain the characters"),
    ("Kx9;mQ2vLp", ViolationCode.FORBIDDEN_CHARACTERS, "must not contain the characters"),
    ("Kx9:mQ2vLp", ViolationCode.FORBIDDEN_CHARACTERS, "must not contain the characters"),
    ("Kx9&mQ2vLp", ViolationCode.FORBIDDEN_CHARACTERS, "must not contain the characters"),
    ("kxqmwvlpzt", ViolationCode.TOO_FEW_CLASSES, "at least two of"),
    ("73859261", ViolationCode.TOO_FEW_CLASSES, "at least two of"),
    ("Xx7-operator", ViolationCode.CONTAINS_USERNAME, "username"),
    ("Xx7-OPERATOR", ViolationCode.CONTAINS_USERNAME, "username"),
    ("rotarepo#7", ViolationCode.CONTAINS_USERNAME, "written backwards"),
    ("Kx9#m123Lp", ViolationCode.SEQUENCE, "123, abc or cba"),
    ("Kx9#m321Lp", ViolationCode.SEQUENCE, "consecutive"),
    ("Kx9#mabcLp", ViolationCode.SEQUENCE, "consecutive"),
    ("Kx9#mCBaLp", ViolationCode.SEQUENCE, "consecutive"),
    ("Kx9#m111Lp", ViolationCode.REPEAT, "111 or aaa"),
    ("Kx9#maAaLp", ViolationCode.REPEAT, "in a row"),
])
def test_each_rule_is_refused_with_its_reason(password: str, code: ViolationCode,
                                              fragment: str) -> None:
    violations = check_password(password, "operator")
    assert [v.code for v in violations] == [code]
    assert fragment in violations[0].message
    with pytest.raises(PasswordPolicyError) as caught:
        require_valid(password, "operator")
    assert caught.value.violations == violations
    assert str(caught.value).startswith("the password ")
    assert fragment in str(caught.value)


def test_every_violation_is_reported_at_once() -> None:
    codes = {v.code for v in check_password("aaa", "bob")}
    assert codes == {ViolationCode.TOO_SHORT, ViolationCode.TOO_FEW_CLASSES,
                     ViolationCode.REPEAT}


def test_username_equal_to_password_is_refused_even_when_short() -> None:
    assert ViolationCode.CONTAINS_USERNAME in {v.code for v in check_password("ab", "ab")}
    # A two-letter username is not searched for inside passwords.
    assert check_password("Kx9#abLpQ", "ab") == []


@pytest.mark.parametrize("password", [
    "Kx9#mQ2vLp", "Tr4il-Ridge", "correcthorse7", "ZEBRA-4-cows", "8h!Qz%tW", "a1b2c3d4",
    "135791Qa",  # steps of two are not a run
    "890Gwq+z",  # no wrap-around: 8-9-0 is not a run
])
def test_good_passwords_are_accepted(password: str) -> None:
    assert check_password(password, "operator") == []
    require_valid(password, "operator")


def test_strength() -> None:
    assert strength("short", "x1") is Strength.INVALID
    assert strength("a1b2c3d4", "x1") is Strength.WEAK  # two classes, 8 long
    assert strength("Kx9mQ2vL", "x1") is Strength.WEAK  # three classes but < 10
    assert strength("kx9mq2vlpz", "x1") is Strength.WEAK  # 10 long but two classes
    assert strength("Kx9#mQ2vLp", "x1") is Strength.STRONG


def test_hash_round_trip_and_format() -> None:
    encoded = hash_password("Kx9#mQ2vLp", FAST)
    assert encoded.split("$")[:4] == ["scrypt", "16", "1", "1"]
    assert verify_password("Kx9#mQ2vLp", encoded)
    assert hash_password("Kx9#mQ2vLp", FAST) != encoded  # salted


def test_wrong_password_does_not_verify() -> None:
    encoded = hash_password("Kx9#mQ2vLp", FAST)
    assert not verify_password("Kx9#mQ2vLP", encoded)
    assert not verify_password("", encoded)


def test_tampered_hash_does_not_verify() -> None:
    encoded = hash_password("Kx9#mQ2vLp", FAST)
    head, digest = encoded.rsplit("$", 1)
    flipped = ("B" if digest[0] == "A" else "A") + digest[1:]
    assert not verify_password("Kx9#mQ2vLp", f"{head}${flipped}")
    salt_tampered = encoded.replace(encoded.split("$")[4], "AAAAAAAAAAAAAAAAAAAAAA==")
    assert not verify_password("Kx9#mQ2vLp", salt_tampered)


@pytest.mark.parametrize("bad", [
    "", "scrypt$16$1$1$abc", "bcrypt$16$1$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==",
    "scrypt$15$1$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==",  # N not a power of two
    "scrypt$4194304$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAA==",  # 4 GiB: refused
    "scrypt$16$1$1$!!!$AAAAAAAAAAAAAAAAAAAAAA==",
    "scrypt$16$1$1$AAAA$AAAAAAAAAAAAAAAAAAAAAA==",  # salt too short
])
def test_malformed_hash_strings_raise(bad: str) -> None:
    with pytest.raises(HashFormatError):
        verify_password("Kx9#mQ2vLp", bad)
    assert needs_rehash(bad, FAST)


def test_needs_rehash_when_parameters_change() -> None:
    encoded = hash_password("Kx9#mQ2vLp", FAST)
    assert not needs_rehash(encoded, FAST)
    assert needs_rehash(encoded, ScryptParams(n=32, r=1, p=1))
    assert needs_rehash(encoded, DEFAULT_PARAMS)


def test_dummy_hash_matches_nothing_and_has_the_same_cost_parameters() -> None:
    dummy = dummy_hash(FAST)
    assert not needs_rehash(dummy, FAST)
    assert not verify_password("Kx9#mQ2vLp", dummy)


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="power of two"):
        ScryptParams(n=1000)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        ScryptParams(n=16, salt_bytes=8)


def test_real_parameters(capsys: pytest.CaptureFixture[str]) -> None:
    """The production parameters: 64 MiB; the time is printed, not asserted."""
    assert DEFAULT_PARAMS.memory_bytes == 64 * 2**20
    started = time.perf_counter()
    encoded = hash_password("Kx9#mQ2vLp")
    hashed = time.perf_counter() - started
    started = time.perf_counter()
    assert verify_password("Kx9#mQ2vLp", encoded)
    verified = time.perf_counter() - started
    assert encoded.startswith("scrypt$65536$8$1$")
    with capsys.disabled():
        print(f"\nscrypt N=2^16 r=8 p=1 (64 MiB): hash {hashed:.3f} s, verify {verified:.3f} s")

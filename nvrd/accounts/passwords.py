"""The password policy and password hashing: the one place web, API and console use.

Policy (manual §5.13 L11111–11113 and the cybersecurity appendix L13986–13994):

- 8–32 characters, printable ASCII without spaces ("non-blank"; ASCII also keeps the
  password typeable on the serial console);
- at least two classes of: digits, lowercase, uppercase, symbols;
- none of ``' " ; : &``;
- not the username or the username reversed, ignoring case. When the username has at least
  3 characters the password must not even *contain* it (or its reverse); shorter names
  would forbid ordinary passwords, so for them only equality is refused;
- no run of 3 or more consecutive characters, up or down: ``123``, ``abc``, ``CBA``,
  ``321`` (letters ignore case, so ``aBc`` is a run too; no wrap-around: ``890`` is fine);
- no character repeated 3 or more times in a row: ``111``, ``aaa`` (``aAa`` too).

Strength (for the security status page, which cannot read passwords back, so the store
records it when a password is set): ``invalid`` when the policy refuses it, ``weak`` when
it uses only two classes or is shorter than 10 characters, ``strong`` otherwise.

Hashing: scrypt from the standard library (memory-hard). :data:`DEFAULT_PARAMS` is
N=2^16, r=8, p=1: 64 MiB and about 0.2 s per hash on the 2-core target. The encoded form is
self-describing, ``scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>``, so parameters can be
raised later: :func:`needs_rehash` says when a stored hash should be replaced at the next
successful login. Tests pass cheaper :class:`ScryptParams`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
import secrets
from dataclasses import dataclass
from enum import StrEnum

from nvrd.accounts.errors import AccountError

MIN_LENGTH = 8
MAX_LENGTH = 32
WEAK_BELOW_LENGTH = 10
FORBIDDEN_CHARACTERS = "'\";:&"
_SYMBOLS = frozenset(chr(c) for c in range(0x21, 0x7F)) - frozenset(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_RUN = 3  # a run or repeat of this many characters is refused


class ViolationCode(StrEnum):
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    INVALID_CHARACTERS = "invalid_characters"
    FORBIDDEN_CHARACTERS = "forbidden_characters"
    TOO_FEW_CLASSES = "too_few_classes"
    CONTAINS_USERNAME = "contains_username"
    SEQUENCE = "sequence"
    REPEAT = "repeat"


@dataclass(frozen=True, slots=True)
class PolicyViolation:
    code: ViolationCode
    message: str
    """A sentence part a person understands, e.g. "must be at least 8 characters long"."""


class PasswordPolicyError(AccountError):
    """The password was refused; ``violations`` lists every reason, not only the first."""

    code = "password_policy"

    def __init__(self, violations: list[PolicyViolation]) -> None:
        super().__init__(violations)
        self.violations = violations

    def __str__(self) -> str:
        return "the password " + "; ".join(v.message for v in self.violations)


class Strength(StrEnum):
    INVALID = "invalid"
    WEAK = "weak"
    STRONG = "strong"


def policy_summary() -> str:
    """The policy in one sentence, shown before a password is typed (the console)."""
    return (f"{MIN_LENGTH}-{MAX_LENGTH} characters, at least two of digits, lowercase, "
            "uppercase and symbols; no spaces, no ' \" ; : &; not the user name; no runs "
            "like 123 or abc; no repeats like 111")


def check_password(password: str, username: str) -> list[PolicyViolation]:
    """Every way ``password`` breaks the policy for ``username``; empty when it is acceptable."""
    found: list[PolicyViolation] = []

    def add(code: ViolationCode, message: str) -> None:
        found.append(PolicyViolation(code, message))

    if len(password) < MIN_LENGTH:
        add(ViolationCode.TOO_SHORT, f"must be at least {MIN_LENGTH} characters long")
    if len(password) > MAX_LENGTH:
        add(ViolationCode.TOO_LONG, f"must be at most {MAX_LENGTH} characters long")
    if any(not ("\x21" <= ch <= "\x7e") for ch in password):
        add(ViolationCode.INVALID_CHARACTERS,
            "may only contain letters A–Z and a–z, digits and symbols "
            "(no spaces, accented letters or control characters)")
    if any(ch in FORBIDDEN_CHARACTERS for ch in password):
        add(ViolationCode.FORBIDDEN_CHARACTERS,
            "must not contain the characters ' \" ; : &")
    if _classes(password) < 2:
        add(ViolationCode.TOO_FEW_CLASSES,
            "must mix at least two of: digits, lowercase letters, uppercase letters, symbols")
    if _contains_username(password, username):
        add(ViolationCode.CONTAINS_USERNAME,
            "must not contain the username or the username written backwards")
    if _has_sequence(password):
        add(ViolationCode.SEQUENCE,
            f"must not contain {_RUN} or more consecutive characters such as 123, abc or cba")
    if _has_repeat(password):
        add(ViolationCode.REPEAT,
            f"must not repeat a character {_RUN} or more times in a row, such as 111 or aaa")
    return found


def require_valid(password: str, username: str) -> None:
    """Raise :class:`PasswordPolicyError` with every violation when the policy refuses."""
    violations = check_password(password, username)
    if violations:
        raise PasswordPolicyError(violations)


def strength(password: str, username: str) -> Strength:
    if check_password(password, username):
        return Strength.INVALID
    if _classes(password) <= 2 or len(password) < WEAK_BELOW_LENGTH:
        return Strength.WEAK
    return Strength.STRONG


def _classes(password: str) -> int:
    return sum((
        any(ch.isascii() and ch.isdigit() for ch in password),
        any("a" <= ch <= "z" for ch in password),
        any("A" <= ch <= "Z" for ch in password),
        any(ch in _SYMBOLS for ch in password),
    ))


def _contains_username(password: str, username: str) -> bool:
    name = username.casefold()
    if not name:
        return False
    folded = password.casefold()
    if len(name) < _RUN:
        return folded in (name, name[::-1])
    return name in folded or name[::-1] in folded


def _has_sequence(password: str) -> bool:
    folded = password.lower()
    for i in range(len(folded) - _RUN + 1):
        window = folded[i:i + _RUN]
        if not (window.isascii() and (window.isdigit() or window.isalpha())):
            continue
        steps = {ord(b) - ord(a) for a, b in itertools.pairwise(window)}
        if steps in ({1}, {-1}):
            return True
    return False


def _has_repeat(password: str) -> bool:
    folded = password.lower()
    return any(len(set(folded[i:i + _RUN])) == 1 for i in range(len(folded) - _RUN + 1))


# --- hashing -------------------------------------------------------------------------------

SCHEME = "scrypt"
# Bounds on parameters read back from a stored hash, so a tampered database cannot make a
# login allocate gigabytes or run for minutes.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


class HashFormatError(ValueError):
    """A stored hash string that is not ``scrypt$N$r$p$salt$hash`` within sane bounds."""


@dataclass(frozen=True, slots=True)
class ScryptParams:
    """scrypt cost parameters. Memory is 128·N·r bytes (64 MiB for the defaults)."""

    n: int = 2**16
    """CPU/memory cost, a power of two."""
    r: int = 8
    """Block size."""
    p: int = 1
    """Parallelism (runs sequentially in hashlib, so it multiplies the time)."""
    salt_bytes: int = 16
    hash_bytes: int = 32

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1) or self.n > _MAX_N:
            raise ValueError(f"scrypt N must be a power of two from 2 to {_MAX_N}, got {self.n}")
        if not (1 <= self.r <= _MAX_R and 1 <= self.p <= _MAX_P):
            raise ValueError(f"scrypt r must be 1–{_MAX_R} and p 1–{_MAX_P}")
        if self.salt_bytes < 16 or self.hash_bytes < 16:
            raise ValueError("scrypt salt and hash must be at least 16 bytes")

    @property
    def memory_bytes(self) -> int:
        return 128 * self.n * self.r


DEFAULT_PARAMS = ScryptParams()


def hash_password(password: str, params: ScryptParams = DEFAULT_PARAMS) -> str:
    """A new salted hash in the encoded form. Blocking (≈0.2 s): use ``asyncio.to_thread``."""
    salt = secrets.token_bytes(params.salt_bytes)
    digest = _scrypt(password, salt, params.n, params.r, params.p, params.hash_bytes)
    return _encode(params.n, params.r, params.p, salt, digest)


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches. The comparison is constant-time. Raises
    :class:`HashFormatError` for a malformed string rather than treating it as a mismatch,
    so a corrupt store is noticed. Blocking: use ``asyncio.to_thread``."""
    n, r, p, salt, expected = _decode(encoded)
    actual = _scrypt(password, salt, n, r, p, len(expected))
    return hmac.compare_digest(actual, expected)


def needs_rehash(encoded: str, params: ScryptParams = DEFAULT_PARAMS) -> bool:
    """True when ``encoded`` was made with other parameters than ``params`` (or is malformed)."""
    try:
        n, r, p, salt, digest = _decode(encoded)
    except HashFormatError:
        return True
    return (n, r, p, len(salt), len(digest)) != (
        params.n, params.r, params.p, params.salt_bytes, params.hash_bytes)


def dummy_hash(params: ScryptParams = DEFAULT_PARAMS) -> str:
    """A well-formed hash that no password matches, costing the same to verify as a real one
    with ``params``; checked against for unknown users so they take as long as known ones."""
    return _encode(params.n, params.r, params.p, secrets.token_bytes(params.salt_bytes),
                   secrets.token_bytes(params.hash_bytes))


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    maxmem = 128 * r * (n + p + 2) + (1 << 20)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=maxmem, dklen=length)


def _encode(n: int, r: int, p: int, salt: bytes, digest: bytes) -> str:
    b64 = base64.b64encode
    return f"{SCHEME}${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def _decode(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != SCHEME:
        raise HashFormatError("not an scrypt$N$r$p$salt$hash string")
    try:
        n, r, p = (int(x) for x in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise HashFormatError("bad number or base64 in the hash string") from None
    if n < 2 or n & (n - 1) or n > _MAX_N or not (1 <= r <= _MAX_R) or not (1 <= p <= _MAX_P):
        raise HashFormatError("scrypt parameters out of range")
    if len(salt) < 16 or len(digest) < 16:
        raise HashFormatError("salt or hash too short")
    return n, r, p, salt, digest

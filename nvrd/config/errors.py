"""Configuration errors an installer can act on: which setting, what value, what is allowed.

Every way a configuration can be wrong (TOML syntax, schema validation, cross-field rules,
schema version) ends up as one :class:`ConfigError` holding :class:`ConfigProblem` rows,
so the log, the audit log, the health endpoint and ``nvrd check-config`` all print the
same text. :meth:`ConfigError.from_validation_error` is the one formatter for pydantic
errors; it knows nothing about the nvrd schema, so other models (the board profile) use
it too.

Cross-field rules are checked by validators that see more than the field they blame
(a model validator, a validator on a whole list). An error they raise would carry the
validator's location (``cameras``), not the offending field's (``cameras[2].channel``),
so they raise :func:`violations_error` instead: a ``ValidationError`` whose errors pydantic
merges into the outer one with the validator's location prepended. That keeps every
problem of a rule (all duplicates, not just the first) and needs nothing special in the
formatter, so models outside nvrd (the HAL board profile) can do the same.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from nvrd.config.modelpath import allowed_names, model_named, section_model


class _NoValue:
    """The value of a problem that has none (a missing setting, a file that is absent)."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __reduce__(self) -> str:
        return "NO_VALUE"


NO_VALUE: Final = _NoValue()

# How much of a bad value is quoted back: enough to recognise it, not a whole section.
MAX_VALUE_REPR_CHARS = 80
MASK = "********"
# Settings whose value is never printed (also catches typos such as "passwd").
_SECRET_NAME = re.compile(r"pass|secret|token|private|(^|_)key$", re.IGNORECASE)
# pydantic reports these as consequences of other errors; they only add noise.
_CONSEQUENTIAL_ERRORS = frozenset({"default_factory_not_called"})
# "scheme://user:password@": the password part (a URL's userinfo ends at the last "@").
_URL_PASSWORD = re.compile(r"(://[^/@\s:\"']*:)[^\s\"']*@")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"-]+)\s*=")
_TOML_POSITION = re.compile(r"\s*\(at (line (\d+), column \d+|end of document)\)\s*$")


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a configuration."""

    path: str
    """Where, as a reader would write it: ``cameras[2].main.url`` (list indexes 0-based),
    ``line 3, column 16`` for TOML syntax, empty for the file as a whole."""
    value: object
    """The offending value as it was read, or ``NO_VALUE``."""
    message: str
    """What is wrong and what is allowed."""

    def describe(self) -> str:
        """The problem as one line, the bad value quoted with secrets masked."""
        text = f"{self.path}: {self.message}" if self.path else self.message
        if self.value is not NO_VALUE:
            text += f" (got {describe_value(self.value, self.path)})"
        return text


class ConfigError(Exception):
    """A configuration that cannot be used, with every problem found in it."""

    def __init__(self, source: str, problems: Iterable[ConfigProblem]) -> None:
        self.source = source
        self.problems: tuple[ConfigProblem, ...] = tuple(problems)
        super().__init__(source, self.problems)

    def __str__(self) -> str:
        if not self.problems:
            return f"{self.source}: invalid configuration"
        return "\n".join(f"{self.source}: {problem.describe()}" for problem in self.problems)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.source, self.problems))

    @classmethod
    def single(cls, source: str, path: str, message: str,
               value: object = NO_VALUE) -> ConfigError:
        return cls(source, [ConfigProblem(path, value, message)])

    @classmethod
    def from_validation_error(cls, exc: ValidationError, source: str,
                              model: type[BaseModel] | None = None) -> ConfigError:
        """Translate pydantic's errors into problems an installer can read.

        ``model`` is the model that was validated: an unknown setting is answered with
        the names its section does allow, which pydantic's error does not carry. Without
        it, the model is looked up by the error's title (found only if its class name is
        unique). Works for any pydantic model.
        """
        if model is None:
            model = model_named(exc.title)
        problems = [
            _problem_from_error(error, model)
            for error in exc.errors(include_url=False)
            if error["type"] not in _CONSEQUENTIAL_ERRORS
        ]
        return cls(source, problems)

    @classmethod
    def from_toml_error(cls, exc: tomllib.TOMLDecodeError, source: str,
                        text: str) -> ConfigError:
        """A TOML syntax error, placed by line and column, quoting the line."""
        message = str(exc)
        match = _TOML_POSITION.search(message)
        path = ""
        value: object = NO_VALUE
        if match is not None:
            message = message[: match.start()]
            if match.group(2) is not None:
                path = match.group(1)
                lines = text.splitlines()
                line = int(match.group(2))
                if 1 <= line <= len(lines):
                    value = _mask_toml_line(lines[line - 1].strip())
            else:
                path = "end of file"
        message = message[:1].lower() + message[1:]
        return cls.single(source, path, f"invalid TOML: {message}", value)


@dataclass(frozen=True)
class Violation:
    """A cross-field rule broken somewhere below the validator that checks it."""

    at: tuple[str | int, ...]
    """Location relative to the validator's own: ``(2, "channel")`` in a validator of the
    ``cameras`` list points at ``cameras[2].channel``."""
    message: str
    value: object = NO_VALUE
    """The value shown to the reader (pydantic's input would be the whole list/model)."""


def violations_error(violations: Iterable[Violation]) -> ValidationError:
    """One ValidationError holding every violation, for a validator to raise."""
    return ValidationError.from_exception_data("configuration rule", [
        InitErrorDetails(type=PydanticCustomError("config_rule", v.message),
                         loc=v.at, input=v.value)
        for v in violations
    ])


def located_error(message: str, *, at: Sequence[str | int] = (),
                  value: object = NO_VALUE) -> ValidationError:
    """:func:`violations_error` for a single violation."""
    return violations_error([Violation(tuple(at), message, value)])


def format_loc(loc: Sequence[str | int]) -> str:
    """``("cameras", 2, "main", "url")`` → ``cameras[2].main.url``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_value(value: object, path: str = "") -> str:
    """A short repr of a bad value: secrets masked, long values cut."""
    name = re.split(r"[.\[]", path)[-1] if path else ""
    masked = _mask(value, name)
    # Dates as written in TOML, not as datetime.date(...).
    text = masked.isoformat() if isinstance(masked, dt.date | dt.time) else repr(masked)
    if len(text) > MAX_VALUE_REPR_CHARS:
        text = text[: MAX_VALUE_REPR_CHARS - 1] + "…"
    return text


def _mask(value: object, name: str = "") -> object:
    if isinstance(value, SecretStr) or (name and _SECRET_NAME.search(name)):
        return MASK
    if isinstance(value, Mapping):
        return {key: _mask(item, str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(item) for item in value)
    if isinstance(value, str):
        return _URL_PASSWORD.sub(rf"\1{MASK}@", value)
    if type(value).__name__.endswith("Url"):  # pydantic's URL types
        return _URL_PASSWORD.sub(rf"\1{MASK}@", str(value))
    return value


def _mask_toml_line(line: str) -> str:
    """A source line quoted in a syntax error, with a secret's value masked."""
    match = _TOML_KEY.match(line)
    if match is not None and _SECRET_NAME.search(match.group(1).split(".")[-1]):
        return f"{match.group(0)} {MASK}"
    masked = _mask(line)
    assert isinstance(masked, str)
    return masked


def _problem_from_error(error: Any, model: type[BaseModel] | None) -> ConfigProblem:
    loc: tuple[str | int, ...] = tuple(error["loc"])
    value: object = error.get("input", NO_VALUE)
    if error["type"] == "missing":
        value = NO_VALUE
    return ConfigProblem(format_loc(loc), value, _message(error, loc, model))


def _message(error: Any, loc: tuple[str | int, ...], model: type[BaseModel] | None) -> str:
    kind: str = error["type"]
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_setting_message(loc, model)
    if kind == "missing":
        return "required setting is missing"
    if kind == "url_scheme":
        return f"URL scheme must be {ctx['expected_schemes']}"
    if kind == "string_pattern_mismatch":
        return f"must match the pattern {ctx['pattern']!r}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return "must be a table (a [section] or { key = value, ... })"
    if kind in ("list_type", "tuple_type", "set_type", "frozen_set_type"):
        return "must be a list ([ ... ], or [[tables]] of settings)"
    message: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    for old, new in (("Input should be", "must be"), ("Input should have", "must have"),
                     ("String should have", "must have"), ("List should have", "must have"),
                     ("Tuple should have", "must have"), ("Value should have", "must have"),
                     ("URL should have", "must have")):
        if message.startswith(old):
            message = new + message[len(old):]
            break
    return message


def _unknown_setting_message(loc: tuple[str | int, ...], model: type[BaseModel] | None) -> str:
    name = str(loc[-1]) if loc else "?"
    message = f"unknown setting {name!r}"
    section = section_model(model, loc[:-1]) if model is not None else None
    if section is None:
        return message + "; check the spelling against the documentation"
    allowed = allowed_names(section)
    close = difflib.get_close_matches(name, allowed, n=1)
    if close:
        message += f" (did you mean {close[0]!r}?)"
    where = "in this section" if len(loc) > 1 else "at the top level"
    return f"{message}; allowed {where}: {', '.join(allowed)}"

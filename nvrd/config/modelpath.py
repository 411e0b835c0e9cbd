"""Follow an error's location through a pydantic model's type annotations.

pydantic's "extra inputs are not permitted" error says which key is unknown but not
which keys the section does allow; this finds the section's model so the error message
can list them. Pure type inspection: no instance, no nvrd schema knowledge.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel


def section_model(model: type[BaseModel], loc: Sequence[str | int]) -> type[BaseModel] | None:
    """The model found at ``loc`` inside ``model`` (``()`` is ``model`` itself), or None
    when the location leads somewhere that is not a model."""
    annotation: Any = model
    for part in loc:
        annotation = _step(annotation, part)
        if annotation is None:
            return None
    candidates = [m for m in _members(annotation) if _is_model(m)]
    return candidates[0] if len(candidates) == 1 else None


def model_named(title: str) -> type[BaseModel] | None:
    """The one imported model class called ``title`` (a ValidationError's title), or None
    if there is none or several. Only a fallback for callers that do not say which model
    they validated: it serves hints, never validation."""
    found: list[type[BaseModel]] = []
    pending: list[type[BaseModel]] = list(BaseModel.__subclasses__())
    seen: set[type[BaseModel]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        if cls.__name__ == title and not cls.__pydantic_generic_metadata__["origin"]:
            found.append(cls)
        pending.extend(cls.__subclasses__())
    return found[0] if len(found) == 1 else None


def allowed_names(model: type[BaseModel]) -> list[str]:
    """The keys a file may use in this model's section, in declaration order."""
    return [field.alias or name for name, field in model.model_fields.items()]


def _step(annotation: Any, part: str | int) -> Any:
    """The annotation one location step further in, or None."""
    for member in _members(annotation):
        if isinstance(part, str) and _is_model(member):
            for name, field in member.model_fields.items():
                if part in (name, field.alias):
                    return field.annotation
        origin = get_origin(member)
        args = get_args(member)
        if isinstance(part, int) and origin in (list, tuple, set, frozenset) and args:
            return args[0]
        if isinstance(part, int) and isinstance(origin, type) and issubclass(
                origin, Sequence) and args:
            return args[0]
        if isinstance(part, str) and isinstance(origin, type) and issubclass(
                origin, Mapping) and len(args) == 2:
            return args[1]
    return None


def _members(annotation: Any) -> list[Any]:
    """``Annotated`` unwrapped and unions split into their members (None dropped)."""
    if get_origin(annotation) is Annotated:
        return _members(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        members: list[Any] = []
        for arg in get_args(annotation):
            if arg is not type(None):
                members.extend(_members(arg))
        return members
    return [annotation]


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)

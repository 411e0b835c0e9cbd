"""What every domain route module does the same way: who is asking (for the audit log),
a configuration change answered as the API answers (422 with the configuration's own
sentences), an action audited with user and source, missing hardware as 503.

Kept apart so the subject modules (cameras, recording, storage, hardware, system,
security) read as their endpoints only, and so the wording of these answers is the same
everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Annotated, Any

import tomli_w
from pydantic import BaseModel, Field, create_model

from nvrd.config import ConfigError, NvrConfig
from nvrd.config.fields import Section
from nvrd.paths import DataDir
from nvrd.system.status import DaemonStatus
from nvrd.web.api.errors import ApiError, ErrorDetail
from nvrd.web.api.registry import RequestContext
from nvrd.web.health import STATUS_KEY
from nvrd.web.routes.daemon import Daemon, daemon_of

Context = RequestContext[Any, Any, Any]


def daemon(ctx: Context) -> Daemon:
    return daemon_of(ctx.request)


def daemon_status(ctx: Context) -> DaemonStatus:
    """The daemon's status as the web serves it: at most a second old, shared by every
    request (see :mod:`nvrd.web.status_cache`)."""
    return ctx.app[STATUS_KEY]()


def user_of(ctx: Context) -> str:
    """The account name for the audit log (``?`` if the authenticator gives none)."""
    return str(getattr(ctx.principal, "name", "?"))


def source_of(ctx: Context) -> str:
    """Where the request came from, as the audit log writes it (``web 192.0.2.7``)."""
    return str(getattr(ctx.principal, "source", ctx.client_ip))


def audit(ctx: Context, type: str, action: str, *, result: str = "ok",
          details: str = "") -> None:
    """Record an action that is not a configuration change (those are audited by
    ``change_config``) with who did it from where."""
    log = daemon(ctx).audit
    if log is not None:
        log.record(type, action, user=user_of(ctx), source=source_of(ctx), result=result,
                   details=details)


async def change_config(ctx: Context, change: Callable[[dict[str, Any]], None], what: str,
                        details: str = "") -> NvrConfig:
    """Apply ``change`` to the configuration table through the daemon (validated whole,
    saved, applied, audited); a configuration that does not validate is a 422 carrying
    the configuration's sentences, and nothing is changed."""
    try:
        return await daemon(ctx).change_config(change, what=what, user=user_of(ctx),
                                               source=source_of(ctx), details=details)
    except ConfigError as exc:
        audit(ctx, "config", what, result="rejected", details=_one_line(exc))
        raise config_refused(exc) from None


def config_refused(exc: ConfigError) -> ApiError:
    """422 ``config_invalid``: every problem, each a sentence naming setting and value."""
    details = [ErrorDetail(problem.path, problem.describe()) for problem in exc.problems]
    summary = "; ".join(detail.message for detail in details) or "invalid configuration"
    return ApiError(422, "config_invalid",
                    f"the configuration would not be valid: {summary}", details=details)


def _one_line(exc: ConfigError) -> str:
    return "; ".join(problem.describe() for problem in exc.problems)


def check_toml(table: dict[str, Any], what: str) -> None:
    """422 if ``table`` holds values a configuration file cannot (JSON null)."""
    try:
        tomli_w.dumps(table)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "config_invalid", f"{what} cannot be a configuration: {exc} "
                       "(null values are not allowed; leave the setting out instead)"
                       ) from None


def unavailable(what: str, reason: str | None = None, code: str = "hardware_unavailable"
                ) -> ApiError:
    """503: the hardware (or service) the request needs is not there, and why."""
    text = f"{what} is not available on this recorder"
    if reason:
        text += f": {reason}"
    return ApiError(503, code, text, headers={"Retry-After": "30"})


def data_dir(ctx: Context) -> DataDir:
    """The daemon's data directory."""
    return daemon(ctx).data_dir


def settings_model(name: str, section: type[Section], fields: Iterable[str], doc: str
                   ) -> type[BaseModel]:
    """A request model made of some settings of a configuration section, with the
    section's own types, limits and descriptions (one truth), every field optional: a
    setting left out keeps its current value."""
    definitions: dict[str, Any] = {}
    for field in fields:
        info = section.model_fields[field]
        annotation: Any = (Annotated[(info.annotation, *info.metadata)]
                           if info.metadata else info.annotation)
        definitions[field] = (annotation | None, Field(None, description=info.description))
    model: type[BaseModel] = create_model(name, __base__=Section, __doc__=doc, **definitions)
    return model


def given(body: BaseModel) -> dict[str, Any]:
    """The settings a partial body sets, as TOML values (``None`` = not given)."""
    return {name: toml_value(value) for name, value in body.model_dump().items()
            if name in body.model_fields_set and value is not None}


def toml_value(value: Any) -> Any:
    """A dumped model value as a configuration table holds it: no None (TOML has no
    null: an unset optional setting is left out), URLs as text."""
    if isinstance(value, dict):
        return {k: toml_value(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [toml_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "get_secret_value"):
        return value.get_secret_value()
    if hasattr(value, "isoformat"):
        return value
    return str(value)

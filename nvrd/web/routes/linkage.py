"""Linkage through the API: the rules, arming and disarm schedules and disarm settings
(``[events]`` in the configuration: validated whole, saved, audited), the one-switch
disarm, a "test" per rule, what is going on now, and the manual's "Alarm Reset".

Rights: everything needs ``events`` (the vendor's events/alarms right), except the
alarm reset, which drives relays and so needs ``alarm_output``. Incidents of camera
channels are listed only to users with ``playback`` on that channel, as the event log
does (nvrd/web/routes/events.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from nvrd.config.linkage import DEFAULT_SUPPRESSED, LinkageConfig
from nvrd.events.model import KINDS, Action, EventKind
from nvrd.linkage.engine import Incident
from nvrd.linkage.service import LinkageService
from nvrd.web.api.auth import AUTHENTICATOR_KEY
from nvrd.web.api.errors import NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import (
    Context,
    audit,
    change_config,
    check_toml,
    daemon,
    given,
    settings_model,
    unavailable,
)

routes = ApiRegistry(tags=("events",))
CHANNEL_RIGHT = "playback"

LinkageSettingsIn = settings_model(
    "LinkageSettingsIn", LinkageConfig, ("schedules", "disarm", "rules"),
    "Linkage settings to change; each one given replaces the current one whole (e.g. "
    "``rules`` is the complete list of rules), one left out stays as it is.")


class LinkageSettingsOut(BaseModel):
    schedules: list[dict[str, Any]]
    disarm: dict[str, Any]
    rules: list[dict[str, Any]]


class DisarmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool
    """True: disarmed now, whatever the schedule says (kept across restarts)."""


class DisarmOut(BaseModel):
    disarmed: bool
    reason: str | None
    """What disarms it: the switch, the schedule or the key-switch input."""
    suppressed: list[str]
    """The actions silenced now."""
    enabled: bool
    """The one-switch setting."""
    schedule: str | None
    input: int | None
    suppress: list[str]
    """What a disarm silences."""


class IncidentOut(BaseModel):
    rule: str
    key: str
    event: dict[str, Any]
    """The event that opened it."""
    actions: list[str]
    done: list[str]
    """What was done, in words."""
    opened_us: int
    merged: int
    """Starts merged into it by anti-dither."""
    active_sources: list[str]
    disarm: str | None
    test: bool


class LinkageStatusOut(BaseModel):
    disarm: DisarmOut
    incidents: list[IncidentOut]
    outputs: dict[str, Any]
    """Relays held by incidents, the buzzer, the ALARM lamp's pattern."""
    offered: dict[EventKind, list[Action]]
    """The actions each kind of event offers."""


class RulePath(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=32)]


def _linkage(ctx: Context) -> LinkageService:
    service = daemon(ctx).linkage
    if service is None or service.engine is None:
        raise unavailable("linkage", "the event engine is not running",
                          code="service_unavailable")
    return service


def _disarm_out(ctx: Context) -> DisarmOut:
    state = _linkage(ctx).disarm()
    setting = daemon(ctx).config.events.disarm
    return DisarmOut(disarmed=state.disarmed, reason=state.reason,
                     suppressed=sorted(str(a) for a in state.suppressed),
                     enabled=setting.enabled, schedule=setting.schedule,
                     input=setting.input, suppress=[str(a) for a in setting.suppress])


def _may_see(ctx: Context, incident: Incident) -> bool:
    channel = incident.first.channel
    return channel is None or ctx.app[AUTHENTICATOR_KEY].authorize(
        ctx.principal, CHANNEL_RIGHT, channel)


def _settings(ctx: Context) -> LinkageSettingsOut:
    events = daemon(ctx).config.events
    dumped = events.model_dump(mode="json", include={"schedules", "disarm", "rules"})
    return LinkageSettingsOut(**dumped)


@routes.get("/api/v1/events/linkage", response=LinkageStatusOut, right="events")
async def linkage_status(ctx: RequestContext) -> LinkageStatusOut:
    """What is going on now: disarmed or not and why, the open incidents (with what
    they did), the outputs they hold, and which actions each kind of event offers."""
    service = _linkage(ctx)
    assert service.engine is not None
    return LinkageStatusOut(
        disarm=_disarm_out(ctx),
        incidents=[IncidentOut(**i.to_dict()) for i in service.engine.incidents()
                   if _may_see(ctx, i)],
        outputs=service.engine.outputs(),
        offered={k.kind: sorted(k.actions) for k in KINDS})


@routes.get("/api/v1/events/linkage/settings", response=LinkageSettingsOut, right="events")
async def get_linkage_settings(ctx: RequestContext) -> LinkageSettingsOut:
    """The rules, the arming and disarm schedules and the disarm settings."""
    return _settings(ctx)


@routes.put("/api/v1/events/linkage/settings", body=LinkageSettingsIn,
            response=LinkageSettingsOut, right="events")
async def put_linkage_settings(ctx: RequestContext[Any, None, None]) -> LinkageSettingsOut:
    """Replace the rules, the schedules or the disarm settings (each given one whole).
    The result is checked with the rest of the configuration (a rule recording a
    channel without a camera, an unknown schedule, an action its event kind does not
    offer: a 422 naming the setting)."""
    changes = given(ctx.body)
    check_toml(changes, "the linkage settings")

    def change(table: dict[str, Any]) -> None:
        table.setdefault("events", {}).update(changes)

    await change_config(ctx, change, "linkage settings changed: " + ", ".join(sorted(changes)))
    return _settings(ctx)


@routes.get("/api/v1/events/disarm", response=DisarmOut, right="events")
async def get_disarm(ctx: RequestContext) -> DisarmOut:
    """Disarmed or not, why, and what is silenced."""
    return _disarm_out(ctx)


@routes.put("/api/v1/events/disarm", body=DisarmBody, response=DisarmOut, right="events")
async def put_disarm(ctx: RequestContext[DisarmBody, None, None]) -> DisarmOut:
    """The one-switch disarm (the schedule and the key-switch input are in the linkage
    settings). Events are still detected and logged."""
    enabled = ctx.body.enabled

    def change(table: dict[str, Any]) -> None:
        disarm = table.setdefault("events", {}).setdefault("disarm", {})
        disarm["enabled"] = enabled
        disarm.setdefault("suppress", [str(a) for a in DEFAULT_SUPPRESSED])

    await change_config(ctx, change, "disarmed" if enabled else "armed")
    return _disarm_out(ctx)


@routes.post("/api/v1/events/rules/{name}/test", path_model=RulePath, response=IncidentOut,
             right="events")
async def test_rule(ctx: RequestContext[None, None, RulePath]) -> IncidentOut:
    """Fire a rule once, now, as if its event happened (arming schedule and disarm do
    not apply): relays, recording, PTZ, snapshots, buzzer, lamp and notifications
    (marked ``"test": true``) — to check the wiring on site."""
    name = ctx.path.name
    try:
        incident = _linkage(ctx).test(name)
    except KeyError:
        raise NotFound(f"there is no linkage rule named {name!r}") from None
    audit(ctx, "alarm", f"linkage rule {name!r} tested", details="; ".join(incident.done))
    return IncidentOut(**incident.to_dict())


@routes.post("/api/v1/alarms/outputs/reset", response=LinkageStatusOut,
             right="alarm_output")
async def reset_outputs(ctx: RequestContext) -> LinkageStatusOut:
    """The manual's "Alarm Reset": relays in mode auto, the buzzer and the ALARM lamp off
    now, even during their latch. Open incidents go on without them (a new event
    switches them on again)."""
    service = _linkage(ctx)
    assert service.engine is not None
    service.engine.reset_outputs()
    audit(ctx, "alarm", "alarm outputs reset")
    return await linkage_status(ctx)

"""``/api/v1/cameras``: the cameras (channels) — their configuration and live state.

A camera in the API is the configuration's :class:`CameraConfig` (same fields, limits and
descriptions), with two differences that keep secrets in:

- out (:class:`CameraOut`): the password is ``"********"`` when one is set (absent when
  none), a password written in a stream URL is replaced by ``***``; the live state
  (online, codec, fps, bitrate, recording) comes along;
- in (:class:`CameraIn`): ``password`` is write-only — left out, it keeps the camera's
  current one; ``""`` clears it. ``channel`` may be left out of a POST (the next free
  channel is taken) and of a PUT/PATCH (the path says it).

Recording mode, schedule and pre/post-record times are camera settings, so they are set
here too (``mode``, ``schedule``, ``pre_record_seconds``, ``post_record_seconds``).
Every change goes through ``change_config``: validated with the whole configuration (a
schedule that does not exist, a channel in use → 422 with the configuration's sentence),
saved, applied and audited. Right: ``camera``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from nvrd.config.fields import Name64
from nvrd.config.schema import MAX_CHANNELS, CameraConfig
from nvrd.record.ingest import StreamStatus
from nvrd.record.ingest_service import ChannelStatus
from nvrd.record.recorder import ChannelRecording
from nvrd.system.logs import redact_url
from nvrd.web.api.errors import Conflict, NotFound
from nvrd.web.api.registry import ApiRegistry, RequestContext
from nvrd.web.routes.common import change_config, daemon, settings_model, toml_value

routes = ApiRegistry(tags=("cameras",))

MASKED_PASSWORD = "********"
CAMERA_PATH = "/api/v1/cameras/{channel:\\d+}"


class ChannelPath(BaseModel):
    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)]


class CameraIn(CameraConfig):
    """A camera's settings as sent: ``password`` is write-only (left out: unchanged;
    ``""``: none); ``channel`` may be left out (POST: the next free one; PUT/PATCH: the
    path's)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    channel: Annotated[int, Field(ge=1, le=MAX_CHANNELS)] | None = None  # type: ignore[assignment]
    name: Name64 | None = None  # type: ignore[assignment]
    password: Annotated[SecretStr, Field(max_length=128)] | None = None  # type: ignore[assignment]


CameraPatch = settings_model(
    "CameraPatch", CameraConfig, [f for f in CameraConfig.model_fields if f != "channel"],
    doc="Some settings of a camera; those left out keep their value. Nested settings "
        "(main, sub, ptz) are replaced as a whole; null removes sub or ptz (and resets "
        "the others to their default).")


class StreamLive(BaseModel):
    online: bool
    codec: str | None
    width: int | None
    height: int | None
    fps: float | None
    bitrate_kbps: float | None
    reconnects: int
    last_error: str | None
    recording: bool
    """This stream is being written to disk now."""


class CameraLive(BaseModel):
    online: bool
    """The main stream delivers."""
    recording: bool
    """Some stream of the camera is being written to disk now."""
    recording_mode: str | None
    """auto / manual / off as the recorder applies it (None: not planned yet)."""
    streams: dict[str, StreamLive]


class CameraOut(CameraConfig):
    """A camera: its settings (secrets masked) and its live state."""

    password: Literal["********"] | None = None  # type: ignore[assignment]
    """``********`` when a password is set; the password itself is never returned."""
    live: CameraLive


# --- helpers ----------------------------------------------------------------------------

def camera_out(camera: CameraConfig, channel: ChannelStatus | None,
               recording: ChannelRecording | None) -> CameraOut:
    data = camera.model_dump(exclude={"password"})
    for stream in ("main", "sub"):
        config = getattr(camera, stream)
        if config is not None:
            data[stream]["url"] = redact_url(str(config.url))
    data["password"] = MASKED_PASSWORD if camera.password.get_secret_value() else None
    data["live"] = _live(channel, recording)
    return CameraOut.model_validate(data)


def _live(channel: ChannelStatus | None, recording: ChannelRecording | None) -> CameraLive:
    streams: dict[str, StreamLive] = {}
    names = set(channel.streams if channel else ()) | set(recording.streams if recording
                                                           else ())
    for name in sorted(names):
        status = channel.streams.get(name) if channel else None
        status = status if status is not None else StreamStatus()
        written = recording.streams.get(name) if recording else None
        streams[name] = StreamLive(
            online=status.online, codec=status.codec, width=status.width,
            height=status.height, fps=status.fps, bitrate_kbps=status.bitrate_kbps,
            reconnects=status.reconnects, last_error=status.last_error,
            recording=bool(written and written.recording))
    return CameraLive(online=bool(channel and channel.online),
                      recording=any(s.recording for s in streams.values()),
                      recording_mode=recording.mode if recording else None, streams=streams)


def camera_response(ctx: RequestContext[Any, Any, Any], channel: int) -> CameraOut:
    """The camera of ``channel`` as the API answers it (404 when there is none)."""
    d = daemon(ctx)
    camera = d.config.camera(channel)
    if camera is None:
        raise NotFound(f"there is no camera on channel {channel}")
    live = {c.channel: c for c in d.ingest.snapshot()} if d.ingest else {}
    recording = {c.channel: c for c in d.recorder.snapshot()} if d.recorder else {}
    return camera_out(camera, live.get(channel), recording.get(channel))


def _camera_table(body: BaseModel, channel: int, current: dict[str, Any] | None
                  ) -> dict[str, Any]:
    """The ``[[cameras]]`` entry for a full replacement: the body's settings; the
    password kept from ``current`` when the body leaves it out."""
    table = toml_value(body.model_dump(exclude={"channel", "password", "name"}))
    table["channel"] = channel
    name = getattr(body, "name", None)
    if name is not None:
        table["name"] = name
    password = getattr(body, "password", None)
    if password is not None:
        table["password"] = password.get_secret_value()
    elif current is not None and "password" in current:
        table["password"] = current["password"]
    return {k: v for k, v in table.items() if v is not None}


def _index(table: dict[str, Any], channel: int) -> int | None:
    cameras = table.get("cameras", [])
    return next((i for i, c in enumerate(cameras) if c.get("channel") == channel), None)


def _check_channel(body: CameraIn, channel: int) -> None:
    if body.channel is not None and body.channel != channel:
        raise Conflict(f"the body names channel {body.channel} but the path channel "
                       f"{channel}; leave channel out of the body or make them equal")


# --- routes -----------------------------------------------------------------------------

@routes.get("/api/v1/cameras", response=list[CameraOut], right="camera")
async def list_cameras(ctx: RequestContext) -> list[CameraOut]:
    """Every camera: settings (secrets masked) and live state (online, codec, fps,
    bitrate, recording)."""
    return [camera_response(ctx, camera.channel) for camera in daemon(ctx).config.cameras]


@routes.get(CAMERA_PATH, path_model=ChannelPath, response=CameraOut, right="camera")
async def get_camera(ctx: RequestContext[None, None, ChannelPath]) -> CameraOut:
    """One camera: settings (secrets masked) and live state."""
    return camera_response(ctx, ctx.path.channel)


@routes.post("/api/v1/cameras", body=CameraIn, response=CameraOut, status=201,
             right="camera")
async def add_camera(ctx: RequestContext[CameraIn]) -> CameraOut:
    """Add a camera, on the channel given or else the lowest free one.

    422 when the configuration would not be valid (channel in use, unknown schedule),
    with the sentence saying why.
    """
    config = daemon(ctx).config
    used = {c.channel for c in config.cameras}
    channel = ctx.body.channel
    if channel is None:
        channel = next((n for n in range(1, MAX_CHANNELS + 1) if n not in used), None)
        if channel is None:
            raise Conflict(f"every channel (1-{MAX_CHANNELS}) has a camera already")
    elif channel in used:
        raise Conflict(f"channel {channel} has a camera already; change it with PUT "
                       f"/api/v1/cameras/{channel} or choose another channel")
    entry = _camera_table(ctx.body, channel, None)

    def add(table: dict[str, Any]) -> None:
        table.setdefault("cameras", []).append(entry)

    await change_config(ctx, add, f"camera {channel} added")
    return camera_response(ctx, channel)


@routes.put(CAMERA_PATH, path_model=ChannelPath, body=CameraIn, response=CameraOut,
            right="camera")
async def put_camera(ctx: RequestContext[CameraIn, None, ChannelPath]) -> CameraOut:
    """Replace a camera's settings (the password is kept when left out); creates the
    camera if the channel has none."""
    channel = ctx.path.channel
    _check_channel(ctx.body, channel)

    def replace(table: dict[str, Any]) -> None:
        cameras = table.setdefault("cameras", [])
        index = _index(table, channel)
        entry = _camera_table(ctx.body, channel,
                              cameras[index] if index is not None else None)
        if index is None:
            cameras.append(entry)
        else:
            cameras[index] = entry

    await change_config(ctx, replace, f"camera {channel} changed")
    return camera_response(ctx, channel)


@routes.patch(CAMERA_PATH, path_model=ChannelPath, body=CameraPatch, response=CameraOut,
              right="camera")
async def patch_camera(ctx: RequestContext[Any, None, ChannelPath]) -> CameraOut:
    """Change some settings of a camera; the others keep their value."""
    channel = ctx.path.channel
    if daemon(ctx).config.camera(channel) is None:
        raise NotFound(f"there is no camera on channel {channel}")
    dumped = ctx.body.model_dump()
    changes = {name: dumped[name] for name in ctx.body.model_fields_set}

    def patch(table: dict[str, Any]) -> None:
        index = _index(table, channel)
        if index is None:
            raise NotFound(f"there is no camera on channel {channel}")
        entry = table["cameras"][index]
        for name, value in changes.items():
            if value is None:
                entry.pop(name, None)
            else:
                entry[name] = toml_value(value)

    await change_config(ctx, patch, f"camera {channel} changed")
    return camera_response(ctx, channel)


@routes.delete(CAMERA_PATH, path_model=ChannelPath, right="camera")
async def delete_camera(ctx: RequestContext[None, None, ChannelPath]) -> None:
    """Remove a camera. Its recordings stay on the disks until retention deletes them."""
    channel = ctx.path.channel
    if daemon(ctx).config.camera(channel) is None:
        raise NotFound(f"there is no camera on channel {channel}")

    def delete(table: dict[str, Any]) -> None:
        table["cameras"] = [c for c in table.get("cameras", []) if c.get("channel") != channel]

    await change_config(ctx, delete, f"camera {channel} removed")

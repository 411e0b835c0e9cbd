"""The domain API against the real daemon: ``Application`` on the simulated board, the
routes of ``daemon_apis()``, a real HTTPS client. Users come from the test's header
authenticator: an administrator with every right and a viewer with live view on
channel 1 only."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client.parser import text_string_to_metric_families

from hal.ptz import Pan
from nvrd.accounts.rights import ChannelRight, SystemRight
from nvrd.accounts.store import AccountStore
from nvrd.app import Application
from nvrd.config import ConfigStore
from nvrd.config.schema import MAX_CHANNELS
from nvrd.paths import shipped_config_dir
from tests.daemon_harness import config_toml, free_port
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator
from tests.web.certs import certs_pem, make_certificate, private_key_pem, served_certificate

ADMIN = "admin"
VIEWER = "viewer"
CAMERA_PASSWORD = "cam-secret-9"
MQTT_PASSWORD = "mqtt-secret-7"
WEBHOOK_SECRET = "hook-secret-5"
PNP_PASSWORD = "pnp-secret-3"
CAMERAS = (
    "[[cameras]]\nchannel = 1\nmain = { url = \"rtsp://127.0.0.1:9/cam1\" }\n"
    f"username = \"nvr\"\npassword = \"{CAMERA_PASSWORD}\"\n"
    "[cameras.ptz]\nprotocol = \"pelco-d\"\naddress = 1\n"
    # secrets an export without secrets must leave out too
    "[notify.mqtt]\nhost = \"192.0.2.50\"\nusername = \"nvr\"\n"
    f"password = \"{MQTT_PASSWORD}\"\n"
    "[[notify.webhooks]]\nurl = \"https://hooks.example.com/nvr\"\n"
    f"secret = \"{WEBHOOK_SECRET}\"\n"
    f"[camera_network.plug_and_play]\npassword = \"{PNP_PASSWORD}\"\n"
)
ADMIN_RIGHTS = frozenset(
    [str(r) for r in SystemRight]
    + [f"{r}:{c}" for r in ChannelRight for c in range(1, MAX_CHANNELS + 1)])
PATH_VALUES = {"channel": "1", "port": "1", "bay": "1", "id": "1", "preset": "1",
               "name": "office"}


@dataclass
class Nvr:
    app: Application
    session: aiohttp.ClientSession
    base: str

    @property
    def port(self) -> int:
        return int(self.base.rsplit(":", 1)[1])

    async def call(self, method: str, path: str, *, user: str = ADMIN,
                   json: Any = None, params: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        async with self.session.request(method, self.base + path, json=json, params=params,
                                        headers={USER_HEADER: user}) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


async def _until(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.fixture
async def nvr(tmp_path: Path) -> AsyncIterator[Nvr]:
    port = free_port()
    (tmp_path / "nvrd.toml").write_text(config_toml(port, cameras=CAMERAS))
    authenticator = HeaderAuthenticator(users={ADMIN: ADMIN_RIGHTS,
                                               VIEWER: frozenset({"live:1"})})
    app = Application(ConfigStore(tmp_path / "nvrd.toml"), tmp_path,
                      board_dirs=[shipped_config_dir() / "boards"],
                      authenticator=authenticator)
    run = asyncio.create_task(app.run())
    try:
        await _until(lambda: run.done() or (app.web is not None and app.web.url
                                            and app.hardware is not None
                                            and app.hardware.poe is not None), 30)
        assert not run.done(), "the daemon stopped while starting"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=False)) as session:
            yield Nvr(app, session, f"https://127.0.0.1:{port}")
    finally:
        app.request_stop()
        assert await asyncio.wait_for(run, 60) == 0


# --- cameras ----------------------------------------------------------------------------

async def test_camera_crud_round_trip_never_shows_a_password(nvr: Nvr) -> None:
    status, created = await nvr.call("POST", "/api/v1/cameras", json={
        "main": {"url": "rtsp://admin:url-secret@192.0.2.10/main"}, "password": "pw-2"})
    assert status == 201, created
    assert created["channel"] == 2  # the lowest free channel
    assert created["password"] == "********"
    assert created["main"]["url"] == "rtsp://admin:***@192.0.2.10/main"
    assert created["live"]["online"] is False

    status, listed = await nvr.call("GET", "/api/v1/cameras")
    assert status == 200
    assert [c["channel"] for c in listed] == [1, 2]
    assert "secret" not in str(listed) and "pw-2" not in str(listed)

    status, replaced = await nvr.call("PUT", "/api/v1/cameras/2", json={
        "name": "Gate", "main": {"url": "rtsp://192.0.2.10/main"}, "mode": "manual"})
    assert status == 200, replaced
    camera = nvr.app.config.camera(2)
    assert camera is not None and camera.name == "Gate" and camera.mode == "manual"
    assert camera.password.get_secret_value() == "pw-2"  # left out: kept

    status, patched = await nvr.call("PATCH", "/api/v1/cameras/2",
                                     json={"post_record_seconds": 60, "password": ""})
    assert status == 200, patched
    assert patched["post_record_seconds"] == 60 and patched["password"] is None
    assert patched["name"] == "Gate"

    status, _ = await nvr.call("DELETE", "/api/v1/cameras/2")
    assert status == 204
    status, missing = await nvr.call("GET", "/api/v1/cameras/2")
    assert status == 404, missing
    assert nvr.app.config.camera(2) is None


async def test_a_bad_camera_is_refused_with_a_sentence(nvr: Nvr) -> None:
    status, error = await nvr.call("POST", "/api/v1/cameras",
                                   json={"main": {"url": "http://192.0.2.10/x"}})
    assert status == 422
    assert "body.main.url" in error["error"]["message"]
    assert "rtsp" in error["error"]["message"]

    status, error = await nvr.call("PATCH", "/api/v1/cameras/1", json={"schedule": "nope"})
    assert status == 422
    assert error["error"]["code"] == "config_invalid"
    assert "'nope'" in error["error"]["message"] and "schedule" in error["error"]["message"]
    assert nvr.app.config.camera(1).schedule == "always"  # type: ignore[union-attr]


# --- recording --------------------------------------------------------------------------

async def test_schedules_put_get_and_in_use(nvr: Nvr) -> None:
    night = {"name": "night", "days": {"monday": [
        {"start": "20:00", "end": "24:00", "type": "motion"}]}}
    status, saved = await nvr.call("PUT", "/api/v1/recording/schedules/night", json=night)
    assert status == 200, saved
    status, got = await nvr.call("GET", "/api/v1/recording/schedules/night")
    assert got["days"]["monday"] == [{"start": "20:00", "end": "24:00", "type": "motion"}]
    status, _ = await nvr.call("PATCH", "/api/v1/cameras/1", json={"schedule": "night"})
    assert status == 200

    status, error = await nvr.call("PUT", "/api/v1/recording/schedules",
                                   json={"schedules": []})
    assert status == 422  # camera 1 still uses "night"
    assert "night" in error["error"]["message"]
    status, everything = await nvr.call("GET", "/api/v1/recording/schedules")
    assert [s["name"] for s in everything["schedules"]] == ["night"]

    status, holidays = await nvr.call("PUT", "/api/v1/recording/holidays", json={
        "holidays": [{"name": "New year", "date": "2027-01-01"}]})
    assert status == 200, holidays
    assert nvr.app.config.recording.holidays[0].name == "New year"

    status, timeline = await nvr.call("GET", "/api/v1/channels/1/timeline", params={
        "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z"})
    assert status == 200 and timeline["spans"] == []
    status, error = await nvr.call("GET", "/api/v1/channels/1/timeline", params={
        "start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"})
    assert status == 422 and "end must be after start" in error["error"]["message"]


# --- storage ----------------------------------------------------------------------------

async def test_storage_settings_change_and_limits(nvr: Nvr) -> None:
    status, settings = await nvr.call("PUT", "/api/v1/storage/settings", json={
        "full_policy": "stop", "min_free_percent": 10, "bays": [{"bay": 2, "record": False}]})
    assert status == 200, settings
    assert settings["full_policy"] == "stop" and settings["reserve_minutes"] == 60
    storage = nvr.app.config.storage
    assert storage.full_policy == "stop" and storage.min_free_percent == 10
    assert storage.bay(2).record is False

    status, error = await nvr.call("PUT", "/api/v1/storage/settings",
                                   json={"min_free_percent": 99})
    assert status == 422 and "min_free_percent" in error["error"]["message"]
    status, error = await nvr.call("PUT", "/api/v1/storage/settings",
                                   json={"mount_root": "/etc"})
    assert status == 422  # not settable from the API
    status, overview = await nvr.call("GET", "/api/v1/storage")
    assert status == 200 and [b["bay"] for b in overview["bays"]] == [1, 2, 3, 4]
    status, error = await nvr.call("POST", "/api/v1/storage/bays/1/prepare",
                                   json={"confirm": "x"})
    assert status in (409, 503), error  # empty bay, or no disk hardware here
    status, history = await nvr.call("GET", "/api/v1/storage/bays/1/smart/history",
                                     params={"limit": "5"})
    assert status == 200 and history == {"bay": 1, "identity": None, "checks": []}, history
    status, error = await nvr.call("GET", "/api/v1/storage/bays/9/smart/history")
    assert status == 404, error


# --- hardware ---------------------------------------------------------------------------

async def test_poe_disable_enable_power_cycle(nvr: Nvr) -> None:
    status, ports = await nvr.call("GET", "/api/v1/poe")
    assert status == 200 and [p["port"] for p in ports] == list(range(1, 9))

    status, port = await nvr.call("POST", "/api/v1/poe/3/disable")
    assert status == 200, port
    assert port["admin_enabled"] is False and port["power"] == "disabled"
    assert nvr.app.config.poe.enabled(3) is False
    status, error = await nvr.call("POST", "/api/v1/poe/3/power-cycle")
    assert status == 409 and "disabled" in error["error"]["message"]

    status, port = await nvr.call("POST", "/api/v1/poe/3/enable")
    assert status == 200 and port["admin_enabled"] is True
    assert nvr.app.config.poe.enabled(3) is True
    status, port = await nvr.call("POST", "/api/v1/poe/3/power-cycle")
    assert status == 200 and port["admin_enabled"] is True
    status, error = await nvr.call("POST", "/api/v1/poe/42/enable")
    assert status == 404


async def test_relay_forced_on_and_off_is_visible(nvr: Nvr) -> None:
    for mode, on in (("on", True), ("off", False), ("on", True), ("auto", False)):
        status, output = await nvr.call("PUT", "/api/v1/alarms/outputs/1", json={"mode": mode})
        assert status == 200, output
        status, alarms = await nvr.call("GET", "/api/v1/alarms")
        relay = next(o for o in alarms["outputs"] if o["number"] == 1)
        assert (relay["on"], relay["mode"]) == (on, mode)
    assert [i["number"] for i in alarms["inputs"]] == [1, 2, 3, 4]
    status, _ = await nvr.call("PUT", "/api/v1/alarms/outputs/9", json={"mode": "on"})
    assert status == 404


async def test_ptz_move_reaches_the_dome(nvr: Nvr) -> None:
    status, body = await nvr.call("POST", "/api/v1/channels/1/ptz/move",
                                  json={"pan": "left", "pan_speed": 40})
    assert status == 204, body
    sim = nvr.app.hardware.sim  # type: ignore[union-attr]

    def dome() -> Any:
        return next(d for d in sim.ptz.snapshot().domes if d.address == 1)

    await _until(lambda: dome().pan == Pan.LEFT and dome().pan_speed == 40)
    status, _ = await nvr.call("POST", "/api/v1/channels/1/ptz/presets/5", json={})
    assert status == 204
    await _until(lambda: dome().last_preset_called == 5)
    status, _ = await nvr.call("POST", "/api/v1/channels/1/ptz/stop")
    assert status == 204
    await _until(lambda: dome().pan == Pan.STOP)
    status, error = await nvr.call("POST", "/api/v1/channels/2/ptz/stop")
    assert status == 404 and "no PTZ dome" in error["error"]["message"]


async def test_panel_and_device_info(nvr: Nvr) -> None:
    status, panel = await nvr.call("GET", "/api/v1/panel")
    assert status == 200 and "status" in panel["indicators"] and "reset" in panel["buttons"]
    status, info = await nvr.call("GET", "/api/v1/system", user=VIEWER)
    assert status == 200 and info["board"] == "sim" and info["model"] == "SIM-4B8P"
    status, summary = await nvr.call("GET", "/api/v1/status", user=VIEWER)
    assert status == 200 and summary["cameras_enabled"] == 1
    status, network = await nvr.call("GET", "/api/v1/system/network")
    assert status == 200 and any(i["name"] == "lo" for i in network["interfaces"])
    status, clock = await nvr.call("PUT", "/api/v1/system/time",
                                   json={"timezone": "Europe/Paris"})
    assert status == 200 and clock["timezone"] == "Europe/Paris"
    status, error = await nvr.call("PUT", "/api/v1/system/time", json={"timezone": "Mars/Base"})
    assert status == 422 and "Mars/Base" in error["error"]["message"]


# --- system -----------------------------------------------------------------------------

async def test_logs_find_the_changes_with_user_and_address(nvr: Nvr) -> None:
    status, _ = await nvr.call("POST", "/api/v1/poe/5/disable")
    assert status == 200

    async def search() -> list[dict[str, Any]]:
        _, rows = await nvr.call("GET", "/api/v1/logs", params={"type": "config"})
        return [r for r in rows if r["action"] == "PoE port 5 disabled"]

    deadline = time.monotonic() + 10
    while not (found := await search()):
        assert time.monotonic() < deadline, "the audit row did not appear"
        await asyncio.sleep(0.2)
    assert (found[0]["user"], found[0]["source"]) == (ADMIN, "127.0.0.1")

    status, text = await nvr.call("GET", "/api/v1/logs/export", params={"type": "config"})
    assert status == 200
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["time", "type", "user"]
    assert any(r[4] == "PoE port 5 disabled" and r[2] == ADMIN for r in rows[1:])
    status, error = await nvr.call("GET", "/api/v1/logs", params={"limit": "0"})
    assert status == 422 and "limit" in error["error"]["message"]


async def test_config_export_without_secrets_and_import_round_trip(nvr: Nvr) -> None:
    status, bundle = await nvr.call("GET", "/api/v1/maintenance/config")
    assert status == 200
    assert bundle["format"] == "nvrd-config" and bundle["format_version"] == 1
    assert bundle["secrets"] is False
    for secret in (CAMERA_PASSWORD, MQTT_PASSWORD, WEBHOOK_SECRET, PNP_PASSWORD):
        assert secret not in str(bundle)
    assert "password" not in bundle["config"]["cameras"][0]

    bundle["config"]["system"]["name"] = "Imported"
    status, result = await nvr.call("POST", "/api/v1/maintenance/config", json=bundle)
    assert status == 200, result
    assert result["kept_secrets"] == 4
    assert nvr.app.config.system.name == "Imported"
    camera = nvr.app.config.camera(1)
    assert camera is not None and camera.password.get_secret_value() == CAMERA_PASSWORD
    notify = nvr.app.config.notify
    assert notify.mqtt.password.get_secret_value() == MQTT_PASSWORD
    assert notify.webhooks[0].secret.get_secret_value() == WEBHOOK_SECRET
    pnp = nvr.app.config.camera_network.plug_and_play
    assert pnp.password.get_secret_value() == PNP_PASSWORD

    bundle["config"]["storage"]["min_free_percent"] = 99
    status, error = await nvr.call("POST", "/api/v1/maintenance/config", json=bundle)
    assert status == 422 and "min_free_percent" in error["error"]["message"]
    assert nvr.app.config.storage.min_free_percent == 5  # nothing changed

    status, full = await nvr.call("GET", "/api/v1/maintenance/config",
                                  params={"secrets": "true"})
    assert status == 200 and full["config"]["cameras"][0]["password"] == CAMERA_PASSWORD


async def test_metrics_parse(nvr: Nvr) -> None:
    async with nvr.session.get(nvr.base + "/metrics", headers={USER_HEADER: ADMIN}) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await r.text()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {"nvrd_uptime_seconds", "nvrd_healthy"} <= names


def _admin_with_a_weak_password(data_dir: Path) -> None:
    with AccountStore(data_dir / "accounts.db") as store:
        store.initialize("Zebra7Qx", username="boss")  # valid, but 8 chars: weak


async def test_security_findings_on_the_default_configuration(nvr: Nvr) -> None:
    assert nvr.app.audit is not None
    await asyncio.to_thread(_admin_with_a_weak_password, nvr.app.data_dir.root)
    status, report = await nvr.call("GET", "/api/v1/security/status")
    assert status == 200, report
    codes = [f["code"] for f in report["findings"]]
    assert "certificate_self_signed" in codes
    weak = next(f for f in report["findings"] if f["code"] == "weak_passwords")
    assert "boss" in weak["message"]
    assert "https_off" not in codes and "http_redirect_on" not in codes
    assert report["certificate"]["self_signed"] is True

    status, settings = await nvr.call("PUT", "/api/v1/security/settings",
                                      json={"idle_logout_minutes": 0})
    assert status == 200 and settings["idle_logout_minutes"] == 0
    _, report = await nvr.call("GET", "/api/v1/security/status")
    assert "idle_logout_off" in [f["code"] for f in report["findings"]]


async def test_a_ca_signed_certificate_is_imported_through_the_api_and_served_at_once(
        nvr: Nvr) -> None:
    async with nvr.session.get(nvr.base + "/api/v1/security/certificate",
                               headers={USER_HEADER: VIEWER}) as response:
        assert response.status == 200  # public knowledge: a login is enough
        served = x509.load_pem_x509_certificate(await response.read())
    assert served.public_bytes(serialization.Encoding.DER) == \
        await served_certificate(nvr.port)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = make_certificate(key, "nvr.example.com", issuer=(ca_key, "Installer CA"), now=now)
    status, error = await nvr.call("PUT", "/api/v1/security/certificate", json={
        "certificate": certs_pem(leaf).decode(),
        "private_key": private_key_pem(ec.generate_private_key(ec.SECP256R1())).decode()})
    assert status == 422 and error["error"]["code"] == "certificate_key_mismatch", error
    assert await served_certificate(nvr.port) == served.public_bytes(serialization.Encoding.DER)

    status, error = await nvr.call("PUT", "/api/v1/security/certificate", user=VIEWER, json={
        "certificate": certs_pem(leaf).decode(), "private_key": private_key_pem(key).decode()})
    assert status == 403, error
    status, info = await nvr.call("PUT", "/api/v1/security/certificate", json={
        "certificate": certs_pem(leaf).decode(), "private_key": private_key_pem(key).decode()})
    assert status == 200, info
    assert info["subject"] == "CN=nvr.example.com" and info["self_signed"] is False
    assert await served_certificate(nvr.port) == leaf.public_bytes(serialization.Encoding.DER)
    _, report = await nvr.call("GET", "/api/v1/security/status")
    assert "certificate_self_signed" not in [f["code"] for f in report["findings"]]

    assert nvr.app.audit is not None
    entries = await _until(lambda: [e for e in nvr.app.audit.query(type="security")
                                    if "certificate" in e.action] if nvr.app.audit else [])
    assert {(e.action, e.result) for e in entries} >= {
        ("HTTPS certificate refused", "failed"), ("HTTPS certificate imported", "ok")}
    assert any(info["sha256_fingerprint"] in e.details for e in entries)


async def test_restore_defaults_keeps_the_network_and_reboot_asks_the_daemon(
        nvr: Nvr) -> None:
    port = nvr.app.config.web.port
    status, done = await nvr.call("POST", "/api/v1/maintenance/restore-defaults",
                                  json={"keep_network": True})
    assert status == 200, done
    assert nvr.app.config.cameras == () and nvr.app.config.web.port == port

    asked: list[bool] = []
    nvr.app.request_stop = lambda: asked.append(True)  # type: ignore[method-assign]
    status, accepted = await nvr.call("POST", "/api/v1/maintenance/reboot")
    assert status == 202, accepted
    await _until(lambda: asked, 5)
    del nvr.app.request_stop  # the fixture stops the daemon for real


# --- access -----------------------------------------------------------------------------

async def test_every_route_that_needs_a_right_refuses_a_low_privilege_user(nvr: Nvr) -> None:
    status, document = await nvr.call("GET", "/api/v1/openapi.json")
    assert status == 200
    walked = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if "x-required-right" not in operation and "x-channel-right" not in operation:
                continue
            values = PATH_VALUES
            if operation.get("x-channel-right", {}).get("right") == "live":
                values = {**PATH_VALUES, "channel": "2"}  # the viewer has live view on 1
            url = path.format(**values)
            body: dict[str, Any] | None = {} if "requestBody" in operation else None
            status, answer = await nvr.call(method.upper(), url, user=VIEWER, json=body)
            assert status == 403, f"{method.upper()} {url}: {status} {answer}"
            assert answer["error"]["code"] == "forbidden"
            walked.append(f"{method} {path}")
    assert len(walked) >= 40
    status, _ = await nvr.call("GET", "/api/v1/status", user=VIEWER)
    assert status == 200

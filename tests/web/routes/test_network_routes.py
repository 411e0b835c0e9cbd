"""The network-change API (nvrd/web/routes/network.py) end to end: the real daemon, whose
network service works in a namespace of its own (tests/system/network_site.py), a real
HTTPS client logged in as its administrator. A change applied over the web is undone
unless confirmed, kept and saved when it is, refused while another waits; each step is
audited with the web user and source, as the console's are. Root only; the host's
network is never touched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from nvrd.app import Application
from nvrd.system.logquery import query_log
from tests.events.harness import ADMIN_PASSWORD, Box, Client
from tests.system.network_site import (
    RECORDER_ADDRESS,
    SECOND_SUBNET_SITE_ADDRESS,
    SITE_ADDRESS,
    NetworkSite,
    open_site,
)

CONFIRM_SECONDS = 3
INTERFACES = "/api/v1/system/network/interfaces"
NEW_STATIC = {"mode": "static", "address": "10.89.1.50/24",
              "gateway": SECOND_SUBNET_SITE_ADDRESS, "dns": [SECOND_SUBNET_SITE_ADDRESS]}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[NetworkSite]:
    with open_site(tmp_path) as made:
        yield made


@pytest_asyncio.fixture
async def box(site: NetworkSite, tmp_path: Path) -> AsyncIterator[Box]:
    """The daemon setting interfaces in the site's recorder namespace, initialized, its
    admin logged in."""
    import aiohttp

    from nvrd.web.api.auth import CSRF_HEADER
    from tests.daemon_harness import config_toml, free_port, running_app

    port = free_port()
    extra = f"[network]\nconfirm_seconds = {CONFIRM_SECONDS}\n"
    async with running_app(tmp_path, config_toml(port, extra=extra),
                           network_namespace=site.recorder_ns) as (app, run):
        admin = Client(aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             connector=aiohttp.TCPConnector(ssl=False)))
        made = Box(app, f"https://127.0.0.1:{port}", admin, [admin.session], run)
        try:
            status, body = await made.call(admin, "POST", "/api/v1/init",
                                           json={"password": ADMIN_PASSWORD})
            assert status == 201, body
            admin.csrf = {CSRF_HEADER: body["csrf_token"]}
            yield made
        finally:
            for session in made.sessions:
                await session.close()


async def _state(box: Box, client: Client | None = None) -> dict[str, Any]:
    status, body = await box.call(client or box.admin, "GET", INTERFACES)
    assert status == 200, body
    return dict(body)


async def _audit(app: Application, count: int, type: str = "network"
                 ) -> list[tuple[str, str, str, str]]:
    """The first ``count`` rows of ``type`` of the audit log, oldest first, once the log has
    them (it is written in batches)."""
    assert app.audit is not None
    deadline = time.monotonic() + 10
    while True:
        rows = query_log(app.audit.path, type=type, limit=50)
        if len(rows) >= count or time.monotonic() > deadline:
            return [(e.action, e.user, e.source.split(" ")[0], e.result)
                    for _, e in reversed(rows)]
        await asyncio.sleep(0.05)


async def _wait_for_revert(app: Application) -> None:
    assert app.network is not None
    await NetworkSite.wait_for_revert(app.network.settings, timeout=30)


@pytest.mark.root
async def test_a_web_change_is_reverted_unless_confirmed(site: NetworkSite, box: Box) -> None:
    state = await _state(box)
    lan = next(i for i in state["interfaces"] if i["name"] == "lan0")
    assert lan["addresses"] == [RECORDER_ADDRESS] and lan["up"] is True
    assert state["pending"] is None and state["configured"] == []
    assert state["confirm_seconds"] == CONFIRM_SECONDS
    assert {"interface": "lan0", "gateway": SITE_ADDRESS, "metric": 0} in state["default_routes"]

    status, pending = await box.call(box.admin, "PUT", INTERFACES + "/lan0", json=NEW_STATIC)
    assert status == 200, pending
    assert pending["applied"] == ("lan0: 10.89.1.50/24, gateway 10.89.1.1, DNS 10.89.1.1 "
                                  "(static)")
    assert pending["previous"] == f"lan0: {RECORDER_ADDRESS}, gateway {SITE_ADDRESS}"
    assert pending["previous_addresses"] == [RECORDER_ADDRESS]
    assert pending["user"] == "admin" and pending["source"].startswith("web ")
    assert 0 < pending["seconds_left"] <= CONFIRM_SECONDS
    assert site.addresses() == ["10.89.1.50/24"] and site.gateway() == SECOND_SUBNET_SITE_ADDRESS

    shown = (await _state(box))["pending"]
    assert shown is not None and shown["interface"] == "lan0"
    # a second change is refused while the first waits, whoever asks
    status, error = await box.call(box.admin, "PUT", INTERFACES + "/lan0",
                                   json={"mode": "dhcp"})
    assert (status, error["error"]["code"]) == (409, "network_change_pending")
    assert "confirm or revert it first" in error["error"]["message"]

    await _wait_for_revert(box.app)  # nobody confirmed
    assert site.addresses() == [RECORDER_ADDRESS] and site.gateway() == SITE_ADDRESS
    state = await _state(box)
    assert state["pending"] is None and state["configured"] == []
    status, error = await box.call(box.admin, "POST", "/api/v1/system/network/confirm")
    assert (status, error["error"]["code"]) == (409, "no_pending_change")
    assert box.app.config.network.interfaces == ()
    assert await _audit(box.app, 2) == [("network change applied", "admin", "web", "ok"),
                               ("network change reverted", "admin", "daemon", "ok")]


@pytest.mark.root
async def test_confirm_keeps_and_saves_revert_undoes(site: NetworkSite, box: Box) -> None:
    status, pending = await box.call(box.admin, "PUT", INTERFACES + "/lan0", json=NEW_STATIC)
    assert status == 200, pending
    status, reverted = await box.call(box.admin, "POST", "/api/v1/system/network/revert")
    assert status == 200, reverted
    assert reverted["reverted"] == f"lan0: {RECORDER_ADDRESS}, gateway {SITE_ADDRESS}"
    assert site.addresses() == [RECORDER_ADDRESS]

    status, pending = await box.call(box.admin, "PUT", INTERFACES + "/lan0",
                                     json={"mode": "static", "address": "10.89.1.60/24"})
    assert status == 200, pending
    status, kept = await box.call(box.admin, "POST", "/api/v1/system/network/confirm")
    assert status == 200, kept
    assert kept["kept"] == "lan0: 10.89.1.60/24, no gateway (static)"
    assert kept["setting"]["text"] == "lan0: 10.89.1.60/24"
    # nothing waits to be reverted any more, and the setting is saved
    assert box.app.network is not None and box.app.network.settings.pending is None
    assert site.addresses() == ["10.89.1.60/24"]
    assert [i.address for i in box.app.config.network.interfaces] == ["10.89.1.60/24"]
    state = await _state(box)
    assert state["pending"] is None
    assert [c["text"] for c in state["configured"]] == ["lan0: 10.89.1.60/24"]
    assert await _audit(box.app, 3) == [
        ("network change applied", "admin", "web", "ok"),
        ("network change reverted", "admin", "web", "ok"),
        ("network change applied", "admin", "web", "ok")]
    saved = [row for row in await _audit(box.app, 1, type="config")
             if row[0] == "network settings confirmed"]
    assert saved == [("network settings confirmed", "admin", "web", "ok")]


@pytest.mark.root
async def test_bad_settings_are_refused_in_words_and_rights_are_checked(
        site: NetworkSite, box: Box) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"mode": "static"}, "body.address", "a static interface needs an address"),
        ({"mode": "static", "address": "10.89.1.50"}, "body.address",
         "write the address with its prefix length"),
        ({"mode": "static", "address": "10.89.1.50/24", "gateway": "10.89.2.1"},
         "body.gateway", "must be inside the interface's subnet"),
        ({"mode": "dhcp", "address": "10.89.1.50/24"}, "body.address",
         "is set by the DHCP server"),
        ({"mode": "static", "address": "10.89.1.50/24", "dns": ["x"]}, "body.dns[0]",
         "must be an IPv4 address"),
    ]
    for body, field, words in cases:
        status, error = await box.call(box.admin, "PUT", INTERFACES + "/lan0", json=body)
        assert status == 422, (body, error)
        details = {d["field"]: d["message"] for d in error["error"]["details"]}
        assert field in details and words in details[field], (body, details)
    # an interface that is not there: refused, nothing pending, nothing changed
    status, error = await box.call(box.admin, "PUT", INTERFACES + "/nosuch0",
                                   json={"mode": "static", "address": "10.89.1.50/24"})
    assert status == 422 and error["error"]["code"] == "network_change_failed", error
    assert site.addresses() == [RECORDER_ADDRESS]
    assert (await _state(box))["pending"] is None

    viewer = await box.user("viewer", {"all_channels": ["live"]})
    calls: list[tuple[str, str, Any]] = [("GET", INTERFACES, None),
                               ("PUT", INTERFACES + "/lan0", NEW_STATIC),
                               ("POST", "/api/v1/system/network/confirm", None),
                               ("POST", "/api/v1/system/network/revert", None)]
    for method, path, sent in calls:
        status, error = await box.call(viewer, method, path, json=sent)
        assert (status, error["error"]["code"]) == (403, "forbidden"), (path, error)
    assert site.addresses() == [RECORDER_ADDRESS]

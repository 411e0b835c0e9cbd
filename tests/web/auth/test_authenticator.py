"""The authenticator's own rules: rights as plain strings, hooks that fail, the service
before its store is open."""

from __future__ import annotations

from pathlib import Path

import pytest

from nvrd.accounts.lockout import LockEvent
from nvrd.accounts.rights import Rights
from nvrd.config import NvrConfig
from nvrd.web.auth import AccountsService, Principal
from tests.accounts.helpers import FAST
from tests.web.auth.harness import running_accounts


def test_authorize_reads_system_and_channel_rights_from_strings(tmp_path: Path) -> None:
    service = AccountsService(tmp_path / "accounts.db", NvrConfig(), None, params=FAST)
    auth = service.authenticator
    rights = Rights.from_json({"system": ["camera"], "all_channels": ["live"],
                               "channels": {"3": ["ptz"]}})
    principal = Principal.for_session("op", "ops", rights, "192.0.2.7", "00ff00ff00ff00ff")
    assert principal.source == "web 192.0.2.7"
    assert auth.authorize(principal, "camera", None)
    assert not auth.authorize(principal, "network", None)
    assert not auth.authorize(principal, "no-such-right", None)
    assert auth.authorize(principal, "live", 9) and auth.authorize(principal, "ptz", 3)
    assert not auth.authorize(principal, "ptz", 2)
    assert not auth.authorize(object(), "camera", None)
    token = Principal.for_token("op", "ops", rights, "192.0.2.7", "ab", "nms")
    assert token.source == "api-token:nms 192.0.2.7" and token.via == "token"


async def test_before_its_store_opens_the_box_counts_as_uninitialized(tmp_path: Path) -> None:
    service = AccountsService(tmp_path / "accounts.db", NvrConfig(), None, params=FAST)
    assert await service.authenticator.initialized() is False
    assert not service.health().ok
    await service.start()
    try:
        assert service.health().ok and service.store is not None
        service.store.initialize("Kx9#mQ2vLp")
        assert await service.authenticator.initialized() is True
    finally:
        await service.stop()
    assert await service.authenticator.initialized() is False
    await service.stop()  # idempotent


async def test_a_failing_hook_is_logged_and_the_others_still_run(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        seen: list[LockEvent] = []

        def broken(username: str, ip: str, reason: str) -> None:
            raise RuntimeError("hook bug")

        env.service.authenticator.on_illegal_login.append(broken)
        env.service.authenticator.on_locked.append(seen.append)
        async with env.client() as client:
            for _ in range(5):
                assert (await env.login(client, "admin", "Wrong#Pass9")).status == 401
        assert len(seen) == 2
        assert "a login event hook failed" in caplog.text
        await admin.close()


async def test_a_reload_changes_the_lockout_limits(tmp_path: Path) -> None:
    config = NvrConfig()
    async with running_accounts(tmp_path, config=config) as env:
        await env.service.apply_config(config.model_copy(update={
            "security": config.security.model_copy(
                update={"lockout_attempts": 3, "lockout_minutes": 1})}))
        admin, _ = await env.admin()
        async with env.client() as client:
            for _ in range(3):
                assert (await env.login(client, "admin", "Wrong#Pass9")).status == 401
            locked = await env.login(client, "admin", "Kx9#mQ2vLp")
            assert locked.status == 403 and locked.headers["Retry-After"] == "60"
        await admin.close()


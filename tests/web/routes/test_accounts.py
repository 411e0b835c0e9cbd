"""The account endpoints through a real server and client: first boot, the password
policy, login and lockout, CSRF, idle logout, kick, rights, tokens, and no secret ever
leaving the box except the one answer that issues it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from nvrd.accounts.lockout import LockEvent, LockKind
from nvrd.accounts.rights import Rights
from nvrd.config import NvrConfig
from nvrd.web.api.auth import CSRF_HEADER, SESSION_COOKIE
from tests.web.auth.harness import ADMIN_PASSWORD, USER_PASSWORD, running_accounts

POLICY_CASES = {
    "Ab1#xyQ": "too_short",
    "Ab1#" + "x9Q" * 10: "too_long",
    "Ab1 #x9Qz": "invalid_characters",
    "Ab1;x9Qzw": "forbidden_characters",
    "wqxzvbnmkj": "too_few_classes",
    "xAdmin#9Qz": "contains_username",
    "x#9Qnimda!": "contains_username",
    "Zq#x123Rw": "sequence",
    "Zq#xcbaRw": "sequence",
    "Zq#x111Rw": "repeat",
    "Zq#xAaaRw": "repeat",
}


async def test_an_uninitialized_box_answers_only_init_health_and_policy(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env, env.client() as client:
        for method, path in (("GET", "/api/v1/users"), ("GET", "/api/v1/session"),
                             ("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/tokens")):
            reply = await env.call(client, method, path)
            assert (reply.status, reply.body["error"]["code"]) == (403, "uninitialized")
        login = await env.login(client, "admin", ADMIN_PASSWORD)
        assert (login.status, login.body["error"]["code"]) == (403, "uninitialized")
        assert (await env.call(client, "GET", "/api/v1/health")).status == 200
        check = await env.call(client, "POST", "/api/v1/password-policy/check",
                               json={"username": "admin", "password": ADMIN_PASSWORD})
        assert check.status == 200 and check.body["acceptable"] is True

        refused = await env.init(client, password="admin123")
        assert refused.status == 422 and refused.body["error"]["code"] == "password_policy"
        assert await env.service.authenticator.initialized() is False

        done = await env.init(client, username="root")
        assert done.status == 201, done.text
        assert done.body["user"] == "root" and done.body["group"] == "admin"
        assert len(done.body["csrf_token"]) >= 40
        # logged in by the init: the cookie works at once
        whoami = await env.call(client, "GET", "/api/v1/session")
        assert whoami.status == 200 and whoami.body["user"] == "root"
        assert whoami.body["csrf_token"] == done.body["csrf_token"]
        # the first-boot endpoint is gone
        again = await env.init(client, username="other")
        assert again.status == 404
        rows = await env.audit_rows()
        assert any(r.action.startswith("recorder initialized") and r.user == "root"
                   and r.source == "web 127.0.0.1" for r in rows)


@pytest.mark.parametrize(("password", "code"), list(POLICY_CASES.items()))
async def test_the_policy_refuses_each_case_with_its_reason(tmp_path: Path, password: str,
                                                          code: str) -> None:
    async with running_accounts(tmp_path) as env, env.client() as client:
        check = await env.call(client, "POST", "/api/v1/password-policy/check",
                               json={"username": "admin", "password": password})
        assert check.status == 200
        assert check.body["acceptable"] is False and check.body["strength"] == "invalid"
        assert code in [v["code"] for v in check.body["violations"]]
        refused = await env.init(client, password=password)
        assert refused.status == 422
        details = refused.body["error"]["details"]
        assert any(f"({code})" in d["message"] and d["field"] == "body.password"
                   for d in details)
        assert password not in refused.text  # the refusal never echoes the password


async def test_every_reason_is_listed_not_only_the_first(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env, env.client() as client:
        refused = await env.init(client, password="aaa")
        codes = {d["message"].rsplit("(", 1)[1].rstrip(")")
                 for d in refused.body["error"]["details"]}
        assert codes == {"too_short", "too_few_classes", "repeat"}


async def test_login_whoami_logout_and_the_cookie_attributes(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        async with env.client() as client:
            reply = await env.login(client, "ADMIN", ADMIN_PASSWORD)  # names ignore case
            assert reply.status == 201
            cookie = reply.headers["Set-Cookie"]
            assert cookie.startswith(f"{SESSION_COOKIE}=")
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
            assert "Secure" not in cookie  # plain HTTP test server
            whoami = await env.call(client, "GET", "/api/v1/session")
            assert whoami.body["user"] == "admin" and whoami.body["via"] == "session"
            assert "accounts" in whoami.body["rights"]["system"]
            assert whoami.body["idle_logout_minutes"] == 15
            csrf = {CSRF_HEADER: reply.body["csrf_token"]}
            out = await env.call(client, "DELETE", "/api/v1/session", headers=csrf)
            assert out.status == 204
            after = await env.call(client, "GET", "/api/v1/session")
            assert after.status == 401
        await admin.close()
        rows = await env.audit_rows()
        assert [r.action for r in rows if r.user == "admin"][-2:] == ["logged in", "logged out"]


async def test_the_cookie_is_secure_under_https(tmp_path: Path) -> None:
    async with running_accounts(tmp_path, https=True) as env, env.client() as client:
        assert env.url.startswith("https://")
        reply = await env.init(client)
        assert reply.status == 201
        assert "Secure" in reply.headers["Set-Cookie"]


async def test_a_refused_login_says_one_sentence_whatever_the_reason(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        store = env.service.store
        assert store is not None
        store.create_user("off", USER_PASSWORD, enabled=False)
        async with env.client() as client:
            messages = set()
            for name, password in (("admin", "Wrong#Pass9"), ("ghost", USER_PASSWORD),
                                   ("off", USER_PASSWORD)):
                reply = await env.login(client, name, password)
                assert reply.status == 401 and reply.body["error"]["code"] == "login_failed"
                messages.add(reply.body["error"]["message"])
            assert len(messages) == 1
        await admin.close()
        rows = [r for r in await env.audit_rows() if r.action == "login failed"]
        assert [(r.user, r.result, r.details) for r in rows] == [
            ("admin", "failed", "reason: wrong_password"),
            ("ghost", "failed", "reason: unknown_user"),
            ("off", "failed", "reason: disabled")]
        assert all(r.type == "security" and r.source == "web 127.0.0.1" for r in rows)


async def test_the_account_is_locked_after_n_failures_until_it_expires(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, admin_csrf = await env.admin()
        illegal: list[tuple[str, str, str]] = []
        locks: list[LockEvent] = []
        auth = env.service.authenticator
        auth.on_illegal_login.append(lambda u, ip, why: illegal.append((u, ip, why)))
        auth.on_locked.append(locks.append)
        async with env.client() as client:
            for _ in range(5):
                reply = await env.login(client, "admin", "Wrong#Pass9")
                assert reply.status == 401
            # locked: even the right password is refused, before it is checked
            locked = await env.login(client, "admin", ADMIN_PASSWORD)
            assert locked.status == 403 and locked.body["error"]["code"] == "locked"
            assert int(locked.headers["Retry-After"]) == 300
            assert "try again in 5 minutes" in locked.body["error"]["message"]
            # the IP is locked too (same address); releasing it leaves the account locked
            listing = await env.call(admin, "GET", "/api/v1/security/lockouts")
            assert {(x["kind"], x["key"]) for x in listing.body} == {
                ("account", "admin"), ("ip", "127.0.0.1")}
            released = await env.call(admin, "DELETE", "/api/v1/security/lockouts",
                                      params={"ip": "127.0.0.1"}, headers=admin_csrf)
            assert [x["kind"] for x in released.body] == ["ip"]
            still = await env.login(client, "admin", ADMIN_PASSWORD)
            assert still.status == 403
            env.clock.advance(120)
            assert int((await env.login(client, "admin", ADMIN_PASSWORD))
                       .headers["Retry-After"]) == 180
            env.clock.advance(180)
            assert (await env.login(client, "admin", ADMIN_PASSWORD)).status == 201
        await admin.close()
        assert len(illegal) == 5 and illegal[0] == ("admin", "127.0.0.1", "wrong_password")
        assert {(e.kind, e.key) for e in locks} == {(LockKind.ACCOUNT, "admin"),
                                                     (LockKind.IP, "127.0.0.1")}
        rows = await env.audit_rows()
        actions = [(r.action, r.user, r.result) for r in rows]
        assert ("account locked", "admin", "failed") in actions
        assert ("IP address locked", "", "failed") in actions
        assert sum(a == "login failed" for a, _, _ in actions) == 5
        assert ("login locks released", "admin", "ok") in actions


async def test_the_address_is_locked_across_usernames(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        async with env.client() as client:
            for name in ("a1", "b2", "c3", "d4", "e5"):
                assert (await env.login(client, name, "Wrong#Pass9")).status == 401
            locked = await env.login(client, "admin", ADMIN_PASSWORD)
            assert locked.status == 403 and "Retry-After" in locked.headers
            assert [(x.kind, x.key) for x in env.service.lockout.locked()] == [
                (LockKind.IP, "127.0.0.1")]
            env.clock.advance(300)
            assert (await env.login(client, "admin", ADMIN_PASSWORD)).status == 201
        await admin.close()


async def test_csrf_is_required_for_cookie_changes(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, csrf = await env.admin()
        new_user = {"name": "viewer", "password": USER_PASSWORD}
        missing = await env.call(admin, "POST", "/api/v1/users", json=new_user)
        assert missing.status == 403 and missing.body["error"]["code"] == "csrf"
        assert CSRF_HEADER in missing.body["error"]["message"]
        wrong = await env.call(admin, "POST", "/api/v1/users", json=new_user,
                               headers={CSRF_HEADER: "x" * 43})
        assert wrong.status == 403 and wrong.body["error"]["code"] == "csrf"
        cross = await env.call(admin, "POST", "/api/v1/users", json=new_user,
                               headers={**csrf, "Origin": "https://evil.example"})
        assert cross.status == 403 and cross.body["error"]["code"] == "csrf"
        null = await env.call(admin, "POST", "/api/v1/users", json=new_user,
                              headers={**csrf, "Origin": "null"})
        assert null.status == 403
        assert env.service.store is not None
        assert [u.name for u in env.service.store.list_users()] == ["admin"]
        ok = await env.call(admin, "POST", "/api/v1/users", json=new_user,
                            headers={**csrf, "Origin": env.url})
        assert ok.status == 201, ok.text
        # safe methods need no token
        assert (await env.call(admin, "GET", "/api/v1/users")).status == 200
        # logging in from another site's page is refused (login CSRF)
        async with env.client() as client:
            cross_login = await env.call(client, "POST", "/api/v1/session",
                                         json={"username": "admin",
                                               "password": ADMIN_PASSWORD},
                                         headers={"Origin": "http://evil.example"})
            assert cross_login.status == 403 and cross_login.body["error"]["code"] == "csrf"
        # a bearer token is exempt: a browser never sends one on its own
        issued = await env.call(admin, "POST", "/api/v1/tokens", json={"name": "nms"},
                                headers=csrf)
        async with env.client() as bare:
            bearer = {"Authorization": f"Bearer {issued.body['secret']}"}
            made = await env.call(bare, "POST", "/api/v1/groups", headers=bearer,
                                  json={"name": "ops", "rights": {"system": ["camera"]}})
            assert made.status == 201, made.text
        await admin.close()


async def test_an_idle_session_is_logged_out_and_a_reload_applies(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        env.clock.advance(14 * 60)
        assert (await env.call(admin, "GET", "/api/v1/session")).status == 200
        env.clock.advance(14 * 60)  # active 14 min ago: still in
        assert (await env.call(admin, "GET", "/api/v1/session")).status == 200
        env.clock.advance(15 * 60)
        gone = await env.call(admin, "GET", "/api/v1/session")
        assert gone.status == 401 and gone.body["error"]["code"] == "session_expired"
        assert "15 minute" in gone.body["error"]["message"]
        assert len(env.service.sessions) == 0
        await admin.close()

        config = NvrConfig()
        await env.service.apply_config(config.model_copy(update={
            "security": config.security.model_copy(update={"idle_logout_minutes": 0})}))
        admin, _ = await env.admin()
        env.clock.advance(24 * 3600)
        whoami = await env.call(admin, "GET", "/api/v1/session")
        assert whoami.status == 200 and whoami.body["idle_logout_minutes"] == 0
        await admin.close()


async def test_an_administrator_lists_and_kicks_sessions(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, csrf = await env.admin()
        viewer, _ = await env.user("viewer")
        listing = await env.call(admin, "GET", "/api/v1/sessions")
        assert listing.status == 200
        by_user = {s["user"]: s for s in listing.body}
        assert set(by_user) == {"admin", "viewer"}
        assert by_user["admin"]["current"] and not by_user["viewer"]["current"]
        assert by_user["viewer"]["ip"] == "127.0.0.1"
        assert "Python" in by_user["viewer"]["user_agent"]
        # the viewer may not see or kick sessions
        assert (await env.call(viewer, "GET", "/api/v1/sessions")).status == 403
        kicked = await env.call(admin, "DELETE", f"/api/v1/sessions/{by_user['viewer']['id']}",
                                headers=csrf)
        assert kicked.status == 204
        assert (await env.call(viewer, "GET", "/api/v1/session")).status == 401
        again = await env.call(admin, "DELETE", f"/api/v1/sessions/{by_user['viewer']['id']}",
                               headers=csrf)
        assert again.status == 404
        await admin.close()
        await viewer.close()
        rows = await env.audit_rows()
        assert any(r.action == "session ended by an administrator" and r.user == "admin"
                   and "'viewer'" in r.details for r in rows)


async def test_a_user_without_the_accounts_right_is_refused(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        viewer, csrf = await env.user("viewer")
        for method, path, body in (
                ("GET", "/api/v1/users", None),
                ("POST", "/api/v1/users", {"name": "x1", "password": USER_PASSWORD}),
                ("GET", "/api/v1/users/admin", None),
                ("PATCH", "/api/v1/users/admin", {"enabled": False}),
                ("DELETE", "/api/v1/users/admin", None),
                ("PUT", "/api/v1/users/admin/password", {"new_password": "Zz9#kkpQw"}),
                ("GET", "/api/v1/groups", None),
                ("POST", "/api/v1/groups", {"name": "g1"}),
                ("GET", "/api/v1/groups/user", None),
                ("PATCH", "/api/v1/groups/user", {"description": "x"}),
                ("DELETE", "/api/v1/groups/user", None),
                ("GET", "/api/v1/tokens?all=true", None),
                ("GET", "/api/v1/security/lockouts", None),
                ("DELETE", "/api/v1/security/lockouts", None)):
            reply = await env.call(viewer, method, path, json=body, headers=csrf)
            assert reply.status == 403, (method, path, reply.text)
            assert reply.body["error"]["code"] == "forbidden"
        # its own things need no right
        assert (await env.call(viewer, "GET", "/api/v1/tokens")).status == 200
        assert (await env.call(viewer, "GET", "/api/v1/session")).status == 200
        await admin.close()
        await viewer.close()


async def test_account_errors_map_to_statuses_with_their_sentences(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, csrf = await env.admin()

        async def call(method: str, path: str, body: object = None) -> tuple[int, str]:
            reply = await env.call(admin, method, path, json=body, headers=csrf)
            return reply.status, reply.body["error"]["code"] if reply.status >= 400 else ""

        user = {"name": "cam-op", "password": USER_PASSWORD, "group": "ops"}
        assert await call("POST", "/api/v1/users", user) == (404, "not_found")
        assert await call("POST", "/api/v1/groups",
                          {"name": "ops", "rights": {"system": ["camera"],
                                                     "channels": {"2": ["ptz"]}}}) == (201, "")
        assert await call("POST", "/api/v1/users", user) == (201, "")
        assert await call("POST", "/api/v1/users", {**user, "name": "CAM-OP"}) == (
            409, "name_taken")
        assert await call("DELETE", "/api/v1/groups/ops") == (409, "group_not_empty")
        assert await call("DELETE", "/api/v1/groups/user") == (409, "builtin_group")
        assert await call("DELETE", "/api/v1/users/admin") == (409, "last_admin")
        assert await call("PATCH", "/api/v1/users/cam-op",
                          {"rights": {"system": ["network"]}}) == (422, "rights_not_subset")
        assert await call("POST", "/api/v1/users", {"name": "-bad", "password": USER_PASSWORD}
                          ) == (422, "invalid_name")
        assert await call("GET", "/api/v1/users/nobody") == (404, "not_found")
        reply = await env.call(admin, "GET", "/api/v1/users/cam-op")
        assert reply.body["rights"] == {"system": ["camera"], "all_channels": [],
                                        "channels": {"2": ["ptz"]}}
        assert reply.body["group"] == "ops" and reply.body["password_strength"] == "strong"
        windows = [{"days": ["mon", "fri"], "start": "08:00", "end": "18:00"}]
        patched = await env.call(admin, "PATCH", "/api/v1/users/cam-op",
                                 json={"login_windows": windows}, headers=csrf)
        assert patched.status == 200 and patched.body["login_windows"] == windows
        cleared = await env.call(admin, "PATCH", "/api/v1/users/cam-op",
                                 json={"login_windows": None}, headers=csrf)
        assert cleared.body["login_windows"] is None
        changed = await env.call(admin, "PATCH", "/api/v1/groups/ops",
                                 json={"rights": {"system": ["camera"]}}, headers=csrf)
        assert changed.status == 200 and changed.body["clipped_users"] == ["cam-op"]
        assert await call("DELETE", "/api/v1/users/cam-op") == (204, "")
        assert await call("DELETE", "/api/v1/groups/ops") == (204, "")
        await admin.close()
        rows = await env.audit_rows()
        actions = [r.action for r in rows if r.user == "admin" and r.result == "ok"]
        for action in ("group created", "user created", "user changed", "group changed",
                       "user deleted", "group deleted"):
            assert action in actions


async def test_account_managers_cannot_escalate(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        store = env.service.store
        assert store is not None
        store.create_group("managers", Rights.from_json({"system": ["accounts"]}))
        manager, csrf = await env.user("manager", group="managers")
        escalate = await env.call(manager, "POST", "/api/v1/users", headers=csrf,
                                  json={"name": "x2", "password": USER_PASSWORD,
                                        "group": "admin"})
        assert escalate.status == 403 and escalate.body["error"]["code"] == "forbidden"
        reset = await env.call(manager, "PUT", "/api/v1/users/admin/password", headers=csrf,
                               json={"new_password": "Zz9#kkpQw"})
        assert reset.status == 403
        await admin.close()
        await manager.close()


async def test_password_changes_end_the_right_sessions(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, admin_csrf = await env.admin()
        viewer, csrf = await env.user("viewer")
        other_viewer = env.client()
        assert (await env.login(other_viewer, "viewer", USER_PASSWORD)).status == 201
        path = "/api/v1/users/viewer/password"
        missing = await env.call(viewer, "PUT", path, headers=csrf,
                                 json={"new_password": "Nw7#pQxsTm"})
        assert missing.status == 422
        wrong = await env.call(viewer, "PUT", path, headers=csrf,
                               json={"old_password": "Wrong#Pass9",
                                     "new_password": "Nw7#pQxsTm"})
        assert wrong.status == 403 and wrong.body["error"]["code"] == "wrong_old_password"
        weak = await env.call(viewer, "PUT", path, headers=csrf,
                              json={"old_password": USER_PASSWORD, "new_password": "viewer1"})
        assert weak.status == 422 and weak.body["error"]["details"][0]["field"] == \
            "body.new_password"
        ok = await env.call(viewer, "PUT", path, headers=csrf,
                            json={"old_password": USER_PASSWORD, "new_password": "Nw7#pQxsTm"})
        assert ok.status == 200, ok.text
        # this session goes on; the other one of the same user has ended
        assert (await env.call(viewer, "GET", "/api/v1/session")).status == 200
        assert (await env.call(other_viewer, "GET", "/api/v1/session")).status == 401
        # an administrator's reset logs the user out everywhere
        reset = await env.call(admin, "PUT", path, headers=admin_csrf,
                               json={"new_password": "Rs5#tXvqMy"})
        assert reset.status == 200
        assert (await env.call(viewer, "GET", "/api/v1/session")).status == 401
        assert (await env.login(viewer, "viewer", "Rs5#tXvqMy")).status == 201
        for client in (admin, viewer, other_viewer):
            await client.close()
        rows = await env.audit_rows()
        assert any(r.action == "password change refused" and r.result == "failed"
                   for r in rows)
        assert any(r.action == "password reset by an administrator" and "'viewer'" in r.details
                   for r in rows)


async def test_tokens_are_issued_used_and_revoked(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, csrf = await env.admin()
        viewer, viewer_csrf = await env.user("viewer")
        issued = await env.call(viewer, "POST", "/api/v1/tokens", headers=viewer_csrf,
                                json={"name": "nms", "expires_in_days": 30})
        assert issued.status == 201
        secret = issued.body["secret"]
        token_id = issued.body["token"]["id"]
        assert issued.body["token"]["user"] == "viewer" and issued.body["token"]["expires_us"]
        listing = await env.call(viewer, "GET", "/api/v1/tokens")
        assert [t["id"] for t in listing.body] == [token_id]
        assert secret not in listing.text
        everyone = await env.call(admin, "GET", "/api/v1/tokens", params={"all": "true"})
        assert [t["user"] for t in everyone.body] == ["viewer"]
        async with env.client() as bare:
            bearer = {"Authorization": f"Bearer {secret}"}
            whoami = await env.call(bare, "GET", "/api/v1/session", headers=bearer)
            assert whoami.status == 200
            assert (whoami.body["user"], whoami.body["via"]) == ("viewer", "token")
            assert whoami.body["csrf_token"] is None
            # the token acts with its user's rights
            assert (await env.call(bare, "GET", "/api/v1/users", headers=bearer)).status == 403
            # another user's token: only with the accounts right
            other = await env.call(admin, "POST", "/api/v1/tokens", headers=csrf,
                                   json={"name": "admin-token"})
            refused = await env.call(bare, "DELETE",
                                     f"/api/v1/tokens/{other.body['token']['id']}",
                                     headers=bearer)
            assert refused.status == 403
            revoked = await env.call(viewer, "DELETE", f"/api/v1/tokens/{token_id}",
                                     headers=viewer_csrf)
            assert revoked.status == 204
            gone = await env.call(bare, "GET", "/api/v1/session", headers=bearer)
            assert gone.status == 401 and gone.body["error"]["code"] == "token_refused"
        await admin.close()
        await viewer.close()
        rows = await env.audit_rows()
        assert any(r.action == "API token issued" and r.user == "viewer" for r in rows)
        assert any(r.action == "API token refused" and r.result == "failed"
                   and r.source == "api-token 127.0.0.1" for r in rows)


async def test_wrong_bearer_tokens_lock_the_address(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, _ = await env.admin()
        async with env.client() as bare:
            for n in range(5):
                reply = await env.call(bare, "GET", "/api/v1/session",
                                       headers={"Authorization": f"Bearer nvrd_guess{n}"})
                assert reply.status == 401
            locked = await env.call(bare, "GET", "/api/v1/session",
                                    headers={"Authorization": "Bearer nvrd_guess9"})
            assert locked.status == 403 and locked.body["error"]["code"] == "locked"
            assert locked.headers["Retry-After"] == "300"
        await admin.close()
        rows = await env.audit_rows()
        assert any(r.action == "IP address locked" for r in rows)


async def test_a_deleted_or_changed_user_loses_its_session(tmp_path: Path) -> None:
    async with running_accounts(tmp_path) as env:
        admin, csrf = await env.admin()
        viewer, _ = await env.user("viewer")
        bob, _ = await env.user("bob")
        # through the API: at once
        assert (await env.call(admin, "DELETE", "/api/v1/users/viewer",
                               headers=csrf)).status == 204
        gone = await env.call(viewer, "GET", "/api/v1/session")
        assert gone.status == 401
        # behind the API's back (the console, say): within the user cache's seconds
        store = env.service.store
        assert store is not None
        store.update_user("bob", enabled=False)
        env.clock.advance(3)
        ended = await env.call(bob, "GET", "/api/v1/session")
        assert ended.status == 401 and ended.body["error"]["code"] == "session_ended"
        for client in (admin, viewer, bob):
            await client.close()


async def test_no_secret_leaves_the_box(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                        ) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_accounts(tmp_path) as env:
        texts: list[str] = []
        client = env.client()
        init = await env.init(client)
        cookie = init.headers["Set-Cookie"].split(";", 1)[0].split("=", 1)[1]
        csrf = {CSRF_HEADER: init.body["csrf_token"]}
        for method, path, body in (
                ("POST", "/api/v1/users", {"name": "viewer", "password": USER_PASSWORD}),
                ("GET", "/api/v1/users", None), ("GET", "/api/v1/users/viewer", None),
                ("PUT", "/api/v1/users/viewer/password", {"new_password": "Nw7#pQxsTm"}),
                ("GET", "/api/v1/sessions", None), ("GET", "/api/v1/session", None),
                ("GET", "/api/v1/openapi.json", None)):
            reply = await env.call(client, method, path, json=body, headers=csrf)
            assert reply.status < 300, reply.text
            texts.append(reply.text)
        issued = await env.call(client, "POST", "/api/v1/tokens", json={"name": "t"},
                                headers=csrf)
        secret = issued.body["secret"]
        texts.append((await env.call(client, "GET", "/api/v1/tokens")).text)
        async with env.client() as other:
            texts.append((await env.login(other, "viewer", "Wrong#Pass9")).text)
            texts.append((await env.call(other, "GET", "/api/v1/session",
                                         headers={"Authorization": f"Bearer {secret}x"})).text)
        await client.close()
        rows = await env.audit_rows()
        everything = "\n".join([*texts, caplog.text, *map(repr, rows)])
        for secret_text in (ADMIN_PASSWORD, USER_PASSWORD, "Nw7#pQxsTm", "Wrong#Pass9",
                            secret, cookie, "scrypt$"):
            assert secret_text not in everything
        assert secret not in repr(env.service.sessions.online())

"""Routes declared on the registry, through a real server and client: the access checks
of the authentication seam, validation, and every error shape."""

from __future__ import annotations

import enum
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import BaseModel

from nvrd.web.api.registry import (
    UNINITIALIZED_MESSAGE,
    ApiRegistry,
    RequestContext,
    RouteDefinitionError,
)
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator, raw_http, running_web

ADMIN = {USER_HEADER: "admin"}
VIEWER = {USER_HEADER: "viewer"}


def _authenticator(initialized: bool = True) -> HeaderAuthenticator:
    return HeaderAuthenticator(users={"admin": frozenset({"network", "live:3"}),
                                      "viewer": frozenset({"live:1"})},
                               is_initialized=initialized)


async def _call(method: str, url: str, **kwargs: Any) -> tuple[int, dict[str, Any],
                                                               aiohttp.ClientResponse]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, url, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else {}
        return response.status, body, response


async def test_an_uninitialized_box_answers_only_health_and_init(tmp_path: Path) -> None:
    authenticator = _authenticator(initialized=False)
    async with running_web(tmp_path, authenticator) as web:
        for method, path in (("GET", "api/v1/test/echo"), ("PUT", "api/v1/test/port"),
                             ("GET", "api/v1/openapi.json")):
            status, body, _ = await _call(method, web.url + path, headers=ADMIN)
            assert status == 403
            assert body == {"error": {"code": "uninitialized",
                                      "message": UNINITIALIZED_MESSAGE}}
        status, _, _ = await _call("GET", web.url + "api/v1/health")
        assert status == 200

        status, _, _ = await _call("POST", web.url + "api/v1/init")
        assert status == 204 and authenticator.is_initialized
        status, _, _ = await _call("GET", web.url + "api/v1/test/echo", headers=ADMIN)
        assert status == 200
        # the first-boot endpoint is gone once the box is set up
        status, body, _ = await _call("POST", web.url + "api/v1/init")
        assert status == 404 and body["error"]["code"] == "not_found"


async def test_no_principal_is_401_with_a_bearer_challenge(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        for headers in ({}, {USER_HEADER: "nobody"}):
            status, body, response = await _call("GET", web.url + "api/v1/test/echo",
                                                  headers=headers)
            assert status == 401
            assert body["error"]["code"] == "unauthenticated"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_a_missing_right_is_403_naming_it_whatever_the_body(tmp_path: Path) -> None:
    authenticator = _authenticator()
    async with running_web(tmp_path, authenticator) as web:
        # an invalid body does not tell a user without the right anything more than 403
        for body in ({"port": 70000}, {"port": 80}, None):
            status, answer, _ = await _call("PUT", web.url + "api/v1/test/port",
                                            headers=VIEWER, json=body)
            assert status == 403
            assert answer["error"]["code"] == "forbidden"
            assert "'network' right" in answer["error"]["message"]
        status, answer, _ = await _call("PUT", web.url + "api/v1/test/port", headers=ADMIN,
                                        json={"port": 8080})
        assert (status, answer) == (200, {"port": 8080, "by": "admin"})
        assert ("admin", "network", None) in authenticator.asked


async def test_a_channel_right_is_checked_on_the_channel_in_the_path(tmp_path: Path) -> None:
    authenticator = _authenticator()
    async with running_web(tmp_path, authenticator) as web:
        status, body, _ = await _call("GET", web.url + "api/v1/test/channels/1/live",
                                      headers=VIEWER)
        assert (status, body) == (200, {"channel": 1})
        status, body, _ = await _call("GET", web.url + "api/v1/test/channels/3/live",
                                      headers=VIEWER)
        assert status == 403
        assert body["error"]["message"] == ("this needs the 'live' right on channel 3, "
                                            "which your account does not have")
        assert ("viewer", "live", 3) in authenticator.asked
        # the path model still validates what the right check let through
        authenticator.users = {**authenticator.users, "viewer": frozenset({"live:999"})}
        status, body, _ = await _call("GET", web.url + "api/v1/test/channels/999/live",
                                      headers=VIEWER)
        assert status == 422
        assert body["error"]["details"] == [{
            "field": "path.channel",
            "message": "path.channel: must be less than or equal to 256 (got '999')"}]


async def test_validation_errors_name_the_field_and_the_value(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        url = web.url + "api/v1/test/port"
        status, body, _ = await _call("PUT", url, headers=ADMIN, json={"port": 70000})
        assert status == 422
        assert body["error"]["code"] == "validation_failed"
        assert body["error"]["message"] == ("the request is not valid: body.port: must be "
                                            "less than or equal to 65535 (got 70000)")

        status, body, _ = await _call("PUT", url, headers=ADMIN,
                                      json={"colour": "red", "password": "hunter2"})
        assert status == 422
        messages = [detail["message"] for detail in body["error"]["details"]]
        assert "body.port: required field is missing" in messages
        assert any(m.startswith("body.colour: unknown field 'colour' (did you mean 'color'?)")
                   for m in messages)
        assert "hunter2" not in str(body)

        status, body, _ = await _call("PUT", url, headers=ADMIN, json={"port": 80,
                                                                       "password": 12})
        assert status == 422 and "12" not in body["error"]["message"]
        assert "'********'" in body["error"]["message"]  # secrets are never quoted back

        status, body, _ = await _call("PUT", url, headers=ADMIN, json=[1, 2])
        assert status == 422
        assert body["error"]["details"][0]["field"] == "body"
        assert "must be a JSON object" in body["error"]["message"]


async def test_query_parameters_are_validated_and_lists_collected(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        status, body, _ = await _call("GET", web.url + "api/v1/test/echo?n=3&tag=a&tag=b",
                                      headers=ADMIN)
        assert (status, body) == (200, {"n": 3, "tag": ["a", "b"], "client_ip": "127.0.0.1"})
        status, body, _ = await _call("GET", web.url + "api/v1/test/echo?n=x", headers=ADMIN)
        assert status == 422
        assert body["error"]["details"][0]["field"] == "query.n"
        assert "(got 'x')" in body["error"]["message"]
        status, body, _ = await _call("GET", web.url + "api/v1/test/echo?bogus=1",
                                      headers=ADMIN)
        assert status == 422 and "unknown field 'bogus'" in body["error"]["message"]


async def test_malformed_json_is_400_and_wrong_content_type_415(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        url = web.url + "api/v1/test/port"
        json_type = {**ADMIN, "Content-Type": "application/json"}
        status, body, _ = await _call("PUT", url, headers=json_type, data=b'{"port": 80,}')
        assert status == 400 and body["error"]["code"] == "malformed_json"
        assert "line 1, column 13" in body["error"]["message"]
        for data in (b"", b"\xff\xfe"):
            status, body, _ = await _call("PUT", url, headers=json_type, data=data)
            assert status == 400 and body["error"]["code"] == "malformed_json"
        status, body, _ = await _call("PUT", url, headers={**ADMIN, "Content-Type":
                                                            "text/plain"}, data=b"port=80")
        assert status == 415
        assert body["error"]["code"] == "unsupported_media_type"
        assert "Content-Type: application/json (got text/plain)" in body["error"]["message"]


async def test_unknown_route_404_and_wrong_method_405_with_allow(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        status, body, _ = await _call("GET", web.url + "api/v1/nope", headers=ADMIN)
        assert status == 404
        assert body["error"] == {"code": "not_found",
                                 "message": "there is no /api/v1/nope on this recorder"}
        status, body, response = await _call("DELETE", web.url + "api/v1/test/port",
                                             headers=ADMIN)
        assert status == 405 and body["error"]["code"] == "method_not_allowed"
        assert response.headers["Allow"] == "PUT"
        assert "DELETE is not allowed on /api/v1/test/port" in body["error"]["message"]



async def test_head_answers_as_get_without_a_body_and_with_the_same_checks(
        tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web, aiohttp.ClientSession() as s:
        url = web.url + "api/v1/test/echo?n=3&tag=a"
        async with s.get(url, headers=ADMIN) as got:
            assert got.status == 200
            body = await got.read()
        async with s.head(url, headers=ADMIN) as head:
            assert head.status == 200 and await head.read() == b""
            assert head.headers["Content-Length"] == str(len(body))
            assert head.headers["Content-Type"] == got.headers["Content-Type"]
        async with s.head(web.url + "api/v1/test/echo") as anonymous:
            assert anonymous.status == 401  # HEAD is no way around the login


async def test_an_oversized_body_is_413(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        big = b'{"port": 80, "color": "' + b"x" * (1 << 20) + b'"}'
        status, body, _ = await _call("PUT", web.url + "api/v1/test/port", data=big,
                                      headers={**ADMIN, "Content-Type": "application/json"})
        assert status == 413
        assert body["error"] == {"code": "too_large", "message": "the request body is larger "
                                 "than the 1 MiB this endpoint accepts"}

        async def chunks() -> Any:  # no Content-Length: caught while reading
            for _ in range(20):
                yield b"x" * (64 << 10)

        status, body, _ = await _call("PUT", web.url + "api/v1/test/port", data=chunks(),
                                      headers={**ADMIN, "Content-Type": "application/json"})
        assert status == 413 and body["error"]["code"] == "too_large"


async def test_a_handler_past_its_timeout_is_503(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        status, body, response = await _call("GET", web.url + "api/v1/test/slow",
                                             headers=ADMIN)
        assert status == 503 and body["error"]["code"] == "timeout"
        assert "within 0.05 s" in body["error"]["message"]
        assert response.headers["Retry-After"]
        status, body, _ = await _call("GET", web.url + "api/v1/test/upstream", headers=ADMIN)
        assert status == 504 and body["error"]["code"] == "upstream_timeout"


async def test_an_unexpected_failure_is_500_with_an_incident_id_only(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        with caplog.at_level(logging.ERROR, logger="nvrd.web.api.middleware"):
            status, body, _ = await _call("GET", web.url + "api/v1/test/boom", headers=ADMIN)
        assert status == 500 and body["error"]["code"] == "internal_error"
        text = str(body)
        assert "secret internals" not in text and "Traceback" not in text
        record = next(r for r in caplog.records if "incident" in r.getMessage())
        incident = record.getMessage().split()[1].rstrip(":")
        assert incident in body["error"]["message"]
        assert record.exc_info is not None  # the traceback is in the log
        # a response that does not match its declared type is a bug, not a leak
        status, body, _ = await _call("GET", web.url + "api/v1/test/wrong-type",
                                      headers=ADMIN)
        assert status == 500 and "leak" not in str(body)


async def test_security_headers_on_every_response(tmp_path: Path) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        for path, api in (("api/v1/health", True), ("api/v1/nope", True), ("", False),
                          ("static/css/app.css", False)):
            _, _, response = await _call("GET", web.url + path, headers=ADMIN)
            headers = response.headers
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["X-Frame-Options"] == "DENY"
            assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
            assert headers["Referrer-Policy"] == "no-referrer"
            assert "Strict-Transport-Security" not in headers  # plain HTTP here
            assert (headers.get("Cache-Control") == "no-store") is api


@pytest.mark.parametrize("target", [
    b"/static/../server.py",
    b"/static/%2e%2e/server.py",
    b"/static/%2E%2E/%2e%2e/web/server.py",
    b"/static/..%2fserver.py",
    b"/static/%2e%2e%2fserver.py",
    b"/static/../../../../../../etc/passwd",
    b"/static/..\\server.py",
    b"/static//etc/passwd",
])
async def test_path_traversal_does_not_leave_the_static_directory(
        tmp_path: Path, target: bytes) -> None:
    async with running_web(tmp_path, _authenticator()) as web:
        status, _, body = await raw_http(web.port, b"GET " + target +
                                         b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status in (400, 403, 404)
        assert b"WebService" not in body and b"root:" not in body
        status, _, body = await raw_http(web.port, b"GET /static/css/app.css HTTP/1.1\r\n"
                                                   b"Host: x\r\nConnection: close\r\n\r\n")
        assert status == 200 and body


def test_route_declarations_are_checked_when_made() -> None:
    class Body(BaseModel):
        x: int

    class WrongPath(BaseModel):
        other: int

    async def handler(ctx: RequestContext) -> None:
        """Does nothing."""

    routes = ApiRegistry()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"public": True, "right": "system"}, "a public route cannot require a right"),
        ({"allow_uninitialized": True}, "only a public route can answer before"),
        ({"channel_right": ("live", "ch")}, "'ch', which is not in the path"),
        ({"path_model": WrongPath}, "differ from the path's parameters"),
        ({"response": None, "status": 200}, "answers 204"),
    ]
    for options, message in cases:
        with pytest.raises(RouteDefinitionError, match=message):
            routes.route("GET", "/api/v1/x/{channel:\\d+}", **options)(handler)
    with pytest.raises(RouteDefinitionError, match="summary"):
        routes.get("/api/v1/y", response=Body)(lambda ctx: handler(ctx))
    routes.get("/api/v1/z", response=Body)(handler)
    with pytest.raises(RouteDefinitionError, match="declared twice"):
        routes.get("/api/v1/z", response=Body, operation_id="other")(handler)
    assert [route.summary for route in routes.routes] == ["Does nothing."]


def test_rights_given_as_str_enums_are_kept_as_their_values() -> None:
    class SystemRight(enum.StrEnum):
        CAMERA = "camera"

    class ChannelRight(enum.StrEnum):
        LIVE = "live"

    async def handler(ctx: RequestContext) -> None:
        """Does nothing."""

    routes = ApiRegistry()
    routes.get("/api/v1/c/{channel}", right=SystemRight.CAMERA,
               channel_right=(ChannelRight.LIVE, "channel"))(handler)
    (route,) = routes.routes
    assert type(route.access.right) is str and route.access.right == "camera"
    assert route.access.channel_right == ("live", "channel")
    assert type(route.access.channel_right[0]) is str

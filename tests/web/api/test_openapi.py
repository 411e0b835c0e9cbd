"""The OpenAPI document served by the recorder: complete, resolvable, carrying access."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp

from nvrd.web import health
from nvrd.web.api.registry import Route
from tests.web.api.harness import USER_HEADER, HeaderAuthenticator, routes, running_web


def _pointer(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def _refs(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []


async def _document(tmp_path: Path) -> dict[str, Any]:
    authenticator = HeaderAuthenticator(users={"u": frozenset()})
    async with running_web(tmp_path, authenticator) as web, aiohttp.ClientSession() as s:
        async with s.get(web.url + "api/v1/openapi.json") as response:
            assert response.status == 401  # the document needs a login
        async with s.get(web.url + "api/v1/openapi.json",
                         headers={USER_HEADER: "u"}) as response:
            assert response.status == 200
            assert response.headers["Cache-Control"] == "no-store"
            document: dict[str, Any] = await response.json()
            return document


async def test_the_document_describes_every_route_with_resolvable_refs(
        tmp_path: Path) -> None:
    document = await _document(tmp_path)
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "nvrd" and document["info"]["version"]
    declared: list[Route] = [*routes.routes, *health.routes.routes]
    for route in declared:
        operation = document["paths"][route.openapi_path][route.method.lower()]
        assert operation["operationId"] == route.operation_id
        assert operation["summary"] == route.summary
        assert operation["responses"]
        assert {p["name"] for p in operation.get("parameters", ()) if p["in"] == "path"} \
            == set(route.path_parameters)
    assert "get" in document["paths"]["/api/v1/openapi.json"]
    operation_ids = [op["operationId"] for item in document["paths"].values()
                     for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids)) == len(declared) + 1

    refs = _refs(document)
    assert refs
    for ref in refs:
        _pointer(document, ref)
    for path in document["paths"]:
        assert "{" not in path or ":" not in path  # aiohttp's regexes are not in OpenAPI paths


async def test_access_and_schemas_come_from_the_declarations(tmp_path: Path) -> None:
    document = await _document(tmp_path)
    paths = document["paths"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["session"] == {**schemes["session"], "type": "apiKey", "in": "cookie"}
    assert schemes["bearer"]["scheme"] == "bearer"

    health_op = paths["/api/v1/health"]["get"]
    assert health_op["security"] == [] and health_op["x-allow-uninitialized"] is True
    assert set(health_op["responses"]) >= {"200", "503"}
    report = _pointer(document, health_op["responses"]["200"]["content"]
                      ["application/json"]["schema"]["$ref"])
    assert {"status", "cameras", "volumes", "bays"} <= set(report["properties"])

    put_port = paths["/api/v1/test/port"]["put"]
    assert put_port["x-required-right"] == "network"
    assert put_port["security"] == [{"session": []}, {"bearer": []}]
    body = _pointer(document, put_port["requestBody"]["content"]["application/json"]
                    ["schema"]["$ref"])
    assert body["properties"]["port"]["maximum"] == 65535
    assert {"401", "403", "413", "415", "422"} <= set(put_port["responses"])
    error = _pointer(document, put_port["responses"]["422"]["$ref"])
    assert _pointer(document, error["content"]["application/json"]["schema"]["$ref"]
                    )["properties"]["error"]

    live = paths["/api/v1/test/channels/{channel}/live"]["get"]
    assert live["x-channel-right"] == {"right": "live", "parameter": "channel"}
    (channel,) = live["parameters"]
    assert channel["in"] == "path" and channel["required"] is True
    assert channel["schema"]["maximum"] == 256

    echo = paths["/api/v1/test/echo"]["get"]
    query = {p["name"]: p for p in echo["parameters"]}
    assert query["tag"]["schema"]["type"] == "array" and query["n"]["required"] is False
    assert "x-required-right" not in echo

    text = paths["/api/v1/test/text"]["get"]["responses"]["200"]["content"]
    assert text == {"text/plain": {"schema": {"type": "string"}}}

    init = paths["/api/v1/init"]["post"]
    assert init["x-only-uninitialized"] is True and "204" in init["responses"]
    assert paths["/api/v1/test/slow"]["get"]["x-timeout-seconds"] == 0.05

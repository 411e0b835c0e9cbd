"""The OpenAPI 3.1 document, written from the route registry and the routes' models.

Nothing is described twice: the request schemas are the pydantic models that validate
requests, the response schemas the types responses are serialized with, and each route's
access (public, required rights) comes from the same declaration the wrapper enforces.
Custom fields: ``x-required-right``, ``x-channel-right`` (``{right, parameter}``),
``x-allow-uninitialized``, ``x-only-uninitialized``, ``x-timeout-seconds``,
``x-streaming`` (the answer is an event stream that does not end by itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, TypeAdapter

from nvrd.web.api.auth import CSRF_HEADER, SESSION_COOKIE
from nvrd.web.api.registry import JSON_MEDIA_TYPE, Route

OPENAPI_VERSION = "3.1.0"
REF_TEMPLATE = "#/components/schemas/{model}"
SECURITY: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]


class ErrorDetailModel(BaseModel):
    field: str
    message: str


class ErrorInfo(BaseModel):
    code: str
    """Stable, for programs: ``validation_failed``, ``forbidden``, ``uninitialized``, ..."""
    message: str
    """A sentence for a person."""
    details: list[ErrorDetailModel] = []


class ErrorResponse(BaseModel):
    """Every error answer of the API."""

    error: ErrorInfo


# name → (status, description): shared error answers, referenced from each operation.
_ERROR_RESPONSES: dict[str, tuple[int, str]] = {
    "MalformedRequest": (400, "The body is not valid JSON."),
    "Unauthenticated": (401, "No valid session or API token."),
    "Forbidden": (403, "The recorder is not initialized yet, or the account lacks a right."),
    "NotFound": (404, "No such resource."),
    "TooLarge": (413, "The body is larger than the endpoint accepts."),
    "UnsupportedMediaType": (415, "The body is not sent as application/json."),
    "ValidationFailed": (422, "A value is wrong; details name each field and value."),
    "InternalError": (500, "An unexpected failure; the message quotes the incident id."),
    "Unavailable": (503, "Timed out or too many connections; try again later."),
}

_SchemaKey = tuple[tuple[int, str], Literal["validation", "serialization"]]


def openapi_document(routes: Sequence[Route], *, title: str, version: str,
                     description: str = "") -> dict[str, Any]:
    """The whole document as a JSON-ready dict."""
    schemas, definitions = _schemas(routes)
    paths: dict[str, dict[str, Any]] = {}
    for index, route in enumerate(routes):
        operation = _operation(index, route, schemas, definitions)
        paths.setdefault(route.openapi_path, {})[route.method.lower()] = operation
    error_ref = {"$ref": REF_TEMPLATE.format(model="ErrorResponse")}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "paths": paths,
        "components": {
            "schemas": definitions,
            "responses": {
                name: {"description": text,
                       "content": {JSON_MEDIA_TYPE: {"schema": error_ref}}}
                for name, (_, text) in _ERROR_RESPONSES.items()
            },
            "securitySchemes": {
                "session": {
                    "type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                    "description": "The browser session set by logging in; requests that "
                                   f"change something must also send the {CSRF_HEADER} "
                                   "header.",
                },
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "An API token of an integration."},
            },
        },
        "security": SECURITY,
    }


def _schemas(routes: Sequence[Route]) -> tuple[dict[_SchemaKey, Any], dict[str, Any]]:
    inputs: list[tuple[tuple[int, str], Literal["validation", "serialization"],
                       TypeAdapter[Any]]] = []
    for index, route in enumerate(routes):
        for part, model in (("body", route.body), ("query", route.query),
                            ("path", route.path_model)):
            if model is not None:
                inputs.append(((index, part), "validation", TypeAdapter(model)))
        if route.response is not None:
            inputs.append(((index, "response"), "serialization", TypeAdapter(route.response)))
    inputs.append(((-1, "error"), "serialization", TypeAdapter(ErrorResponse)))
    schemas, definitions = TypeAdapter.json_schemas(inputs, ref_template=REF_TEMPLATE)
    return schemas, dict(definitions.get("$defs", {}))


def _resolve(schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        resolved: dict[str, Any] = definitions[ref.rsplit("/", 1)[1]]
        return resolved
    return schema


def _operation(index: int, route: Route, schemas: dict[_SchemaKey, Any],
               definitions: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.operation_id, "summary": route.summary}
    if route.description:
        operation["description"] = route.description
    if route.tags:
        operation["tags"] = list(route.tags)
    parameters = _path_parameters(index, route, schemas, definitions)
    if route.query is not None:
        parameters += _model_parameters(schemas[((index, "query"), "validation")],
                                        definitions, "query")
    if parameters:
        operation["parameters"] = parameters
    if route.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {JSON_MEDIA_TYPE: {"schema": schemas[((index, "body"), "validation")]}},
        }
    operation["responses"] = _responses(index, route, schemas)
    access = route.access
    operation["security"] = [] if access.public else SECURITY
    if access.right:
        operation["x-required-right"] = access.right
    if access.channel_right:
        operation["x-channel-right"] = {"right": access.channel_right[0],
                                        "parameter": access.channel_right[1]}
    if access.allow_uninitialized:
        operation["x-allow-uninitialized"] = True
    if access.only_uninitialized:
        operation["x-only-uninitialized"] = True
    if route.timeout_s is not None:
        operation["x-timeout-seconds"] = route.timeout_s
    if route.streaming:
        operation["x-streaming"] = True
    return operation


def _path_parameters(index: int, route: Route, schemas: dict[_SchemaKey, Any],
                     definitions: dict[str, Any]) -> list[dict[str, Any]]:
    if route.path_model is not None:
        declared = _model_parameters(schemas[((index, "path"), "validation")], definitions,
                                     "path")
        by_name = {parameter["name"]: parameter for parameter in declared}
        return [by_name[name] for name in route.path_parameters]
    parameters = []
    for name in route.path_parameters:
        schema: dict[str, Any] = {"type": "string"}
        pattern = route.path_pattern(name)
        if pattern:
            schema["pattern"] = f"^{pattern}$"
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _model_parameters(schema: dict[str, Any], definitions: dict[str, Any],
                      where: str) -> list[dict[str, Any]]:
    model = _resolve(schema, definitions)
    required = set(model.get("required", ()))
    parameters = []
    for name, property_schema in model.get("properties", {}).items():
        parameter: dict[str, Any] = {"name": name, "in": where,
                                     "required": where == "path" or name in required,
                                     "schema": property_schema}
        if "description" in property_schema:
            parameter["description"] = property_schema["description"]
        if property_schema.get("type") == "array":
            parameter["explode"] = True  # ?tag=a&tag=b
        parameters.append(parameter)
    return parameters


def _responses(index: int, route: Route, schemas: dict[_SchemaKey, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    if route.response is None:
        responses[str(route.status)] = {"description": "Done; no content."}
    else:
        content = {route.media_type:
                   {"schema": schemas[((index, "response"), "serialization")]}}
        for status in (route.status, *route.other_statuses):
            responses[str(status)] = {"description": route.summary, "content": content}
    access = route.access
    errors = ["InternalError", "Unavailable"]
    if not access.public:
        errors += ["Unauthenticated", "Forbidden"]
    elif not access.allow_uninitialized:
        errors.append("Forbidden")
    if route.path_parameters or access.only_uninitialized:
        errors.append("NotFound")
    if route.body is not None:
        errors += ["MalformedRequest", "TooLarge", "UnsupportedMediaType"]
    if route.body is not None or route.query is not None or route.path_model is not None:
        errors.append("ValidationFailed")
    for name in errors:
        responses.setdefault(str(_ERROR_RESPONSES[name][0]),
                             {"$ref": f"#/components/responses/{name}"})
    return dict(sorted(responses.items()))

"""API routes declared once: the same declaration validates requests, checks access and
writes the OpenAPI document.

An endpoint is an async function taking a :class:`RequestContext` and returning a model
(or a ``web.StreamResponse`` for anything else)::

    routes = ApiRegistry(tags=("cameras",))

    @routes.put("/api/v1/cameras/{channel:\\d+}", body=CameraIn, path=ChannelPath,
                response=CameraOut, channel_right=("camera", "channel"), right="camera")
    async def put_camera(ctx: RequestContext[CameraIn, None, ChannelPath]) -> CameraOut:
        \"\"\"Replace a camera's settings.\"\"\"
        ...

What the wrapper does for every request, in this order (so a caller learns no more than
its access allows: a low-privilege user gets 403 whatever body it sends):

1. box not initialized and the route not ``allow_uninitialized`` → 403 ``uninitialized``;
   box initialized and the route ``only_uninitialized`` → 404, as if it were not there;
2. route not ``public``: ``authenticate`` → 401 without a principal;
3. ``right`` / ``channel_right`` → 403 ``forbidden`` naming the right (and channel);
4. path, query, then body validated against their models → 422 naming field and value
   (400 malformed JSON, 415 not JSON, 413 too large);
5. the handler, under the route's timeout → 503 ``timeout`` when it runs out;
6. the result serialized as the declared response type (a mismatch is a bug: 500).

A ``streaming`` route (an event stream) answers for as long as the client listens: its
handler runs without a timeout, and must end when the server shuts down, which it learns
through :func:`on_server_closing` (aiohttp would otherwise wait up to a minute for it).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, get_origin

from aiohttp import web
from multidict import MultiMapping
from pydantic import BaseModel, TypeAdapter, ValidationError
from typing_extensions import TypeVar

from nvrd.web.api.auth import AUTHENTICATOR_KEY, Authenticator, Principal
from nvrd.web.api.errors import (
    ApiError,
    Forbidden,
    NotFound,
    RequestInvalid,
    Unauthenticated,
    UpstreamTimeout,
)

BodyT = TypeVar("BodyT", default=None)
QueryT = TypeVar("QueryT", default=None)
PathT = TypeVar("PathT", default=None)

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
JSON_MEDIA_TYPE = "application/json"
UNINITIALIZED_MESSAGE = ("the recorder is not set up yet: set the admin password first "
                         "(POST /api/v1/init)")
# {name} or {name:regex}; the regex may hold one level of braces (\d{1,3}).
_PATH_PARAMETER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::((?:[^{}]|\{[^{}]*\})*))?\}")


class RouteDefinitionError(ValueError):
    """A route declared inconsistently (found at import time, not by a client)."""


@dataclass(frozen=True, slots=True)
class RequestContext(Generic[BodyT, QueryT, PathT]):
    """What a handler gets: validated inputs, who asks, from where."""

    request: web.Request
    body: BodyT
    query: QueryT
    path: PathT
    principal: Principal | None
    """Whatever the authenticator returned; None on public routes."""
    client_ip: str

    @property
    def app(self) -> web.Application:
        return self.request.app


Handler = Callable[[RequestContext[Any, Any, Any]], Awaitable[object]]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True, slots=True)
class Access:
    """Who may call a route."""

    public: bool = False
    """No login needed (health, first-boot init, login)."""
    allow_uninitialized: bool = False
    """Answers before an admin password exists (only public routes can)."""
    only_uninitialized: bool = False
    """Exists only before the admin password is set (the init endpoint): 404 after."""
    right: str | None = None
    """A system right the caller needs, e.g. ``"camera"``."""
    channel_right: tuple[str, str] | None = None
    """(right, path parameter): a per-channel right on the channel named in the path."""


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    """aiohttp style: ``/api/v1/cameras/{channel:\\d+}``."""
    handler: Handler
    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    path_model: type[BaseModel] | None = None
    response: Any = None
    """The type returned (a model, ``list[Model]``, ...); None for an empty 204 answer."""
    media_type: str = "application/json"
    """What a successful answer is (``text/plain; version=0.0.4`` for /metrics): handlers
    of other media types return a ``web.Response``; ``response`` is then ``str``."""
    status: int = 200
    other_statuses: tuple[int, ...] = ()
    """Other statuses answered with the same response type (health: 503 when unhealthy)."""
    access: Access = field(default_factory=Access)
    timeout_s: float | None = None
    """Overrides the default handler timeout for long operations (a disk format)."""
    streaming: bool = False
    """A long-lived answer (an event stream): no timeout; see :func:`on_server_closing`."""
    operation_id: str = ""

    def __post_init__(self) -> None:
        problem = _route_problem(self)
        if problem:
            raise RouteDefinitionError(f"{self.method} {self.path}: {problem}")

    @property
    def path_parameters(self) -> tuple[str, ...]:
        return tuple(match.group(1) for match in _PATH_PARAMETER.finditer(self.path))

    @property
    def openapi_path(self) -> str:
        """The path as OpenAPI writes it: ``/api/v1/cameras/{channel}``."""
        return _PATH_PARAMETER.sub(lambda match: "{" + match.group(1) + "}", self.path)

    def path_pattern(self, name: str) -> str | None:
        for match in _PATH_PARAMETER.finditer(self.path):
            if match.group(1) == name:
                return match.group(2)
        return None


def _route_problem(route: Route) -> str:
    access = route.access
    if route.method not in METHODS:
        return f"method must be one of {', '.join(METHODS)}"
    if not route.path.startswith("/"):
        return "the path must start with /"
    if not route.summary.strip():
        return "a summary (or a docstring on the handler) is required"
    if access.public and (access.right or access.channel_right):
        return "a public route cannot require a right"
    if (access.allow_uninitialized or access.only_uninitialized) and not access.public:
        return "only a public route can answer before the admin password is set"
    if access.only_uninitialized and not access.allow_uninitialized:
        return "only_uninitialized needs allow_uninitialized"
    parameters = route.path_parameters
    if len(set(parameters)) != len(parameters):
        return "a path parameter appears twice"
    if access.channel_right and access.channel_right[1] not in parameters:
        return f"channel_right names {access.channel_right[1]!r}, which is not in the path"
    if route.path_model is not None and set(route.path_model.model_fields) != set(parameters):
        return (f"the path model's fields ({', '.join(route.path_model.model_fields)}) "
                f"differ from the path's parameters ({', '.join(parameters)})")
    if route.response is None and route.status != 204:
        return "a route without a response type answers 204"
    if route.streaming and route.timeout_s is not None:
        return "a streaming route has no timeout (it ends when the client or server does)"
    return ""


class ApiRegistry:
    """A set of routes; modules make one each, the web service includes them all."""

    def __init__(self, *, tags: tuple[str, ...] = ()) -> None:
        self._tags = tags
        self._routes: dict[tuple[str, str], Route] = {}

    @property
    def routes(self) -> tuple[Route, ...]:
        return tuple(self._routes.values())

    def add(self, route: Route) -> None:
        key = (route.method, route.openapi_path)
        if key in self._routes:
            raise RouteDefinitionError(f"{route.method} {route.path} is declared twice")
        taken = {existing.operation_id for existing in self._routes.values()}
        if route.operation_id in taken:
            raise RouteDefinitionError(f"{route.method} {route.path}: operation id "
                                       f"{route.operation_id!r} is already used")
        self._routes[key] = route

    def include(self, other: ApiRegistry) -> None:
        for route in other.routes:
            self.add(route)

    def route(self, method: str, path: str, *, summary: str | None = None,
              description: str | None = None, tags: tuple[str, ...] | None = None,
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              path_model: type[BaseModel] | None = None, response: Any = None,
              media_type: str = JSON_MEDIA_TYPE,
              status: int | None = None, other_statuses: tuple[int, ...] = (),
              public: bool = False,
              allow_uninitialized: bool = False, only_uninitialized: bool = False,
              right: str | None = None, channel_right: tuple[str, str] | None = None,
              timeout_s: float | None = None, streaming: bool = False,
              operation_id: str | None = None) -> Callable[[H], H]:
        """Declare the decorated handler as ``method path``.

        Summary and description default to the handler's docstring (first line, rest).
        """
        def decorate(handler: H) -> H:
            doc_summary, doc_description = _split_docstring(handler.__doc__)
            self.add(Route(
                method=method.upper(), path=path, handler=handler,
                summary=summary if summary is not None else doc_summary,
                description=description if description is not None else doc_description,
                tags=tags if tags is not None else self._tags,
                body=body, query=query, path_model=path_model, response=response,
                status=status if status is not None else (204 if response is None else 200),
                other_statuses=other_statuses, media_type=media_type,
                access=Access(
                    public=public, allow_uninitialized=allow_uninitialized,
                    only_uninitialized=only_uninitialized,
                    # plain strings: a StrEnum member's str() is its value
                    right=str(right) if right is not None else None,
                    channel_right=((str(channel_right[0]), channel_right[1])
                                   if channel_right is not None else None)),
                timeout_s=timeout_s, streaming=streaming,
                operation_id=operation_id or str(getattr(handler, "__name__", "")),
            ))
            return handler
        return decorate

    def get(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("GET", path, **options)

    def post(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("POST", path, **options)

    def put(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("PUT", path, **options)

    def patch(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("PATCH", path, **options)

    def delete(self, path: str, **options: Any) -> Callable[[H], H]:
        return self.route("DELETE", path, **options)


def _split_docstring(doc: str | None) -> tuple[str, str]:
    if not doc:
        return "", ""
    lines = [line.strip() for line in doc.strip().splitlines()]
    paragraphs = "\n".join(lines).split("\n\n")
    summary = " ".join(paragraphs[0].split())
    description = "\n\n".join(" ".join(p.split()) for p in paragraphs[1:])
    return summary, description


def json_response(value: object, *, status: int = 200, type_: Any = None) -> web.Response:
    """``value`` (a model, or anything ``type_`` describes) as a JSON response.

    For handlers that answer with another status than the route's, or set cookies.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(type_ if type_ is not None else type(value))
    return web.Response(status=status, body=adapter.dump_json(value, warnings="error"),
                        content_type=JSON_MEDIA_TYPE)


# --- the wrapper ---------------------------------------------------------------------------

def make_handler(route: Route, default_timeout_s: float,
                 max_body_bytes: int) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The aiohttp handler enforcing ``route``'s declaration (see the module doc)."""
    adapter: TypeAdapter[Any] | None = (TypeAdapter(route.response)
                                        if route.response is not None else None)
    timeout_s = route.timeout_s if route.timeout_s is not None else default_timeout_s

    async def handle(request: web.Request) -> web.StreamResponse:
        authenticator = request.app[AUTHENTICATOR_KEY]
        await _check_initialized(route, authenticator)
        principal = None
        if not route.access.public:
            principal = await authenticator.authenticate(request)
            if principal is None:
                raise Unauthenticated()
            _check_rights(route, authenticator, principal, request.match_info)
        context: RequestContext[Any, Any, Any] = RequestContext(
            request=request,
            path=_validate(route.path_model, dict(request.match_info), "path"),
            query=_validate(route.query, _query_values(route.query, request.query), "query"),
            body=await _read_body(route.body, request, max_body_bytes),
            principal=principal, client_ip=request.remote or "unknown")
        result = await _run(route, context, timeout_s)
        return _to_response(route, adapter, result)

    handle.__name__ = f"api_{route.operation_id}"
    return handle


async def _check_initialized(route: Route, authenticator: Authenticator) -> None:
    initialized = await authenticator.initialized()
    if not initialized and not route.access.allow_uninitialized:
        raise Forbidden(UNINITIALIZED_MESSAGE, code="uninitialized")
    if initialized and route.access.only_uninitialized:
        raise NotFound()


def _check_rights(route: Route, authenticator: Authenticator, principal: Principal,
                  match_info: Mapping[str, str]) -> None:
    right = route.access.right
    if right is not None and not authenticator.authorize(principal, right, None):
        raise Forbidden(f"this needs the '{right}' right, which your account does not have")
    if route.access.channel_right is not None:
        channel_right, parameter = route.access.channel_right
        try:
            channel = int(match_info[parameter])
        except (KeyError, ValueError):
            raise NotFound() from None
        if not authenticator.authorize(principal, channel_right, channel):
            raise Forbidden(f"this needs the '{channel_right}' right on channel {channel}, "
                            "which your account does not have")


def _validate(model: type[BaseModel] | None, values: Mapping[str, object],
              part: str) -> BaseModel | None:
    if model is None:
        return None
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise RequestInvalid.from_validation_error(exc, part, model) from None


def _query_values(model: type[BaseModel] | None,
                  query: MultiMapping[str]) -> dict[str, object]:
    """Query parameters as the model expects them: a list for list fields (``?tag=a&tag=b``),
    otherwise the single value (the last one if repeated)."""
    if model is None:
        return {}
    values: dict[str, object] = {}
    for name in set(query.keys()):
        all_values = query.getall(name)
        info = model.model_fields.get(name)
        is_list = info is not None and get_origin(info.annotation) in (list, tuple, set,
                                                                        frozenset)
        values[name] = list(all_values) if is_list else all_values[-1]
    return values


async def _read_body(model: type[BaseModel] | None, request: web.Request,
                     max_body_bytes: int) -> BaseModel | None:
    if model is None:
        return None
    if request.content_type != JSON_MEDIA_TYPE:
        raise ApiError(415, "unsupported_media_type",
                       f"send the request body as JSON with Content-Type: {JSON_MEDIA_TYPE} "
                       f"(got {request.content_type})")
    if request.content_length is not None and request.content_length > max_body_bytes:
        raise body_too_large(max_body_bytes)
    raw = await request.read()
    if not raw.strip():
        raise ApiError(400, "malformed_json", "the request body is empty; send a JSON object")
    try:
        json.loads(raw)
    except UnicodeDecodeError:
        raise ApiError(400, "malformed_json", "the request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json",
                       f"the request body is not valid JSON: {exc.msg} at line {exc.lineno}, "
                       f"column {exc.colno}") from None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise ApiError(400, "malformed_json", "the request body is not valid JSON: "
                           f"{exc.errors()[0]['msg']}") from None
        raise RequestInvalid.from_validation_error(exc, "body", model) from None


def body_too_large(max_body_bytes: int) -> ApiError:
    return ApiError(413, "too_large", f"the request body is larger than the "
                    f"{_size(max_body_bytes)} this endpoint accepts")


def _size(n: int) -> str:
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} bytes"


async def _run(route: Route, context: RequestContext[Any, Any, Any], timeout_s: float) -> object:
    if route.streaming:
        return await route.handler(context)
    deadline = asyncio.timeout(timeout_s)
    try:
        async with deadline:
            return await route.handler(context)
    except TimeoutError:
        if deadline.expired():
            raise ApiError(503, "timeout", f"the recorder did not finish this request within "
                           f"{timeout_s:g} s; try again later",
                           headers={"Retry-After": "5"}) from None
        raise UpstreamTimeout() from None


def _to_response(route: Route, adapter: TypeAdapter[Any] | None,
                 result: object) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if adapter is None:
        if result is not None:
            raise TypeError(f"{route.method} {route.path} declares no response but its "
                            f"handler returned {type(result).__name__}")
        return web.Response(status=route.status)
    return web.Response(status=route.status, body=adapter.dump_json(result, warnings="error"),
                        content_type=JSON_MEDIA_TYPE)


# --- streaming routes: ending them when the server shuts down -------------------------------

class ServerClosing:
    """Tells streaming handlers that the server is shutting down.

    aiohttp's shutdown first fires ``on_shutdown``, then waits (up to its shutdown
    timeout, a minute) for handlers still running; :func:`setup_api` connects
    :meth:`close` to ``on_shutdown`` so that open streams end at once, cleanly (a last
    message, then the end of the answer) instead of being cancelled a minute later.
    Loop-only.
    """

    def __init__(self) -> None:
        self.closing = False
        self._callbacks: set[Callable[[], None]] = set()

    def add(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the server shuts down (at once if it already does);
        returns the function that removes it."""
        if self.closing:
            callback()
            return lambda: None
        self._callbacks.add(callback)
        return lambda: self._callbacks.discard(callback)

    async def close(self, app: web.Application) -> None:
        self.closing = True
        callbacks, self._callbacks = self._callbacks, set()
        for callback in callbacks:
            callback()


SERVER_CLOSING_KEY: web.AppKey[ServerClosing] = web.AppKey("api_server_closing", ServerClosing)


def on_server_closing(request: web.Request, callback: Callable[[], None]) -> Callable[[], None]:
    """For streaming handlers: ``callback`` when the server shuts down (see
    :class:`ServerClosing`); returns the function that removes it."""
    closing = request.app.get(SERVER_CLOSING_KEY)
    if closing is None:  # an application not set up by setup_api
        return lambda: None
    return closing.add(callback)

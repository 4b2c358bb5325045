"""Open311 GeoReport v2 over HTTP: JSON and XML rendering, its error format, capped forms."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl
from xml.etree import ElementTree

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import Headers, UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gridgis.errors import InvalidInput, NotFound, PayloadTooLarge

PREFIX = "/open311/v2"
Format = Literal["json", "xml"]
# A citizen report is a few short fields: anything larger is refused before it is parsed.
MAX_FORM_BYTES = 16 * 1024
MAX_FORM_FIELDS = 50
# Times are given in the city's own offset (the specification asks for an ISO 8601 offset).
CITY_TIME = timezone(timedelta(hours=8))
JSON_TYPE = "application/json; charset=utf-8"
XML_TYPE = "text/xml; charset=utf-8"


def w3c(value: datetime) -> str:
    """A time as the specification writes it: 2026-12-01T20:15:30+08:00."""
    return value.astimezone(CITY_TIME).replace(microsecond=0).isoformat()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return w3c(value)
    return value


def _xml_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(_plain(value))


def _element(parent: ElementTree.Element, name: str, value: Any) -> None:
    child = ElementTree.SubElement(parent, name)
    if isinstance(value, list):
        for item in value:
            _element(child, name[:-1] if name.endswith("s") else "item", item)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _element(child, key, item)
    else:
        child.text = _xml_text(value)


def render(
    fmt: Format,
    items: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    root: str,
    item: str,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """One answer in JSON (a list of objects, or one object) or XML (<root><item>...)."""
    if fmt == "json":
        if isinstance(items, Mapping):
            data: Any = {k: _plain(v) for k, v in items.items()}
        else:
            data = [{k: _plain(v) for k, v in entry.items()} for entry in items]
        body = json.dumps(data, ensure_ascii=False).encode()
        return Response(body, status_code, headers=headers, media_type=JSON_TYPE)
    tree = ElementTree.Element(root)
    if isinstance(items, Mapping):
        for key, value in items.items():
            _element(tree, key, value)
    else:
        for entry in items:
            node = ElementTree.SubElement(tree, item)
            for key, value in entry.items():
                _element(node, key, value)
    body = b'<?xml version="1.0" encoding="utf-8"?>' + ElementTree.tostring(tree, "utf-8")
    return Response(body, status_code, headers=headers, media_type=XML_TYPE)


def format_of_path(path: str) -> Format:
    """The answer format a URL asks for (.xml or .json; JSON when it says neither)."""
    return "xml" if path.endswith(".xml") else "json"


def error_response(path: str, status_code: int, description: str, headers: Any = None) -> Response:
    """The specification's error format: [{"code", "description"}] or <errors><error>."""
    return render(
        format_of_path(path),
        [{"code": status_code, "description": description}],
        root="errors",
        item="error",
        status_code=status_code,
        headers=headers,
    )


class Open311Errors:
    """Re-render the API's JSON errors on /open311 paths in the Open311 error format.

    The status codes still come from the one mapping (api/errors.py); invalid input is a 400
    there, as the specification says, instead of the API's 422. The field at fault leads
    the description ("lat: ...")."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PREFIX + "/"):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = dict(message.get("headers", [])).get(b"content-type", b"")
                if message["status"] >= 400 and content_type.startswith(b"application/json"):
                    start = message
                    return
                await send(message)
            elif message["type"] == "http.response.body" and start is not None:
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._reply(scope, start, b"".join(chunks), send)
            else:
                await send(message)

        await self.app(scope, receive, capture)

    async def _reply(self, scope: Scope, start: Message, body: bytes, send: Send) -> None:
        status_code = int(start["status"])
        try:
            error = json.loads(body)
        except ValueError:
            error = {}
        if not isinstance(error, dict) or "message" not in error:  # already Open311's
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        description = str(error["message"])
        field = error.get("field")
        if field and not description.startswith(f"{field}:"):
            description = f"{field}: {description}"
        if status_code == 422:
            status_code = 400
        kept = {
            k.decode(): v.decode()
            for k, v in start.get("headers", [])
            if k.lower() in (b"retry-after", b"www-authenticate")
        }
        response = error_response(str(scope["path"]), status_code, description, kept)
        await response(scope, _nothing, send)


async def _nothing() -> Message:  # pragma: no cover - a Response does not read the request
    return {"type": "http.disconnect"}


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_form(request: Request) -> bool:
    """Whether the request says its body is a form."""
    return request.headers.get("content-type", "").startswith(FORM_TYPES)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive channel that gives `body` once, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def presented_key(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """The key an Open311 client sends: the `api_key` query parameter, else (on a POST form)
    the form's `api_key` field, for the gate to authenticate before the route runs.

    The form is read whole, at most MAX_FORM_BYTES (PayloadTooLarge beyond), and handed on
    to the app through the returned receive channel, which replays it."""
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("api_key"):
        return query["api_key"][0], receive
    content_type = Headers(scope=scope).get("content-type", "")
    if scope["method"] != "POST" or not content_type.startswith(FORM_TYPES):
        return None, receive
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        body.extend(message.get("body", b""))
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"The form is larger than {MAX_FORM_BYTES} bytes.", field="body")
        if not message.get("more_body", False):
            break
    data = bytes(body)
    key: str | None = None
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            fields = parse_qsl(
                data.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS
            )
            key = next((value for name, value in fields if name == "api_key"), None)
        else:
            form = await Request(scope, _replay(data, receive)).form(
                max_files=1, max_fields=MAX_FORM_FIELDS
            )
            value = form.get("api_key")
            key = value if isinstance(value, str) else None
    except Exception:  # a form that cannot be parsed carries no key; the route says why
        key = None
    return key, _replay(data, receive)


def check_format(value: str) -> Format:
    """The format part of an Open311 URL: json or xml, else NotFound (no such resource)."""
    if value == "json":
        return "json"
    if value == "xml":
        return "xml"
    raise NotFound("format must be json or xml (e.g. services.json).", field="format")


async def read_form(request: Request) -> dict[str, str]:
    """The POST form (url-encoded or multipart), read once and at most MAX_FORM_BYTES long.

    PayloadTooLarge when the body is longer; InvalidInput for a file part or a form that
    cannot be parsed. Cached on the request: the key check and the route share one read."""
    cached = getattr(request.state, "open311_form", None)
    if cached is not None:
        return dict(cached)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_FORM_BYTES:
        raise PayloadTooLarge(f"The form is larger than {MAX_FORM_BYTES} bytes.", field="body")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLarge(f"The form is larger than {MAX_FORM_BYTES} bytes.", field="body")
    request._body = bytes(body)  # Starlette parses the form from this instead of the stream
    if not is_form(request):
        raise InvalidInput(
            "POST requests takes a form (application/x-www-form-urlencoded).", field="body"
        )
    try:
        form = await request.form(max_files=1, max_fields=MAX_FORM_FIELDS)
    except Exception as exc:  # Starlette raises its own parse errors: all are bad input
        raise InvalidInput(f"The form could not be read: {exc}.", field="body") from None
    fields: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            raise InvalidInput("File uploads are not accepted; send media_url instead.", field=name)
        fields.setdefault(name, value)
    request.state.open311_form = fields
    return dict(fields)

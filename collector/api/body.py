"""Reading a request body off the wire: size limits, gzip without inflating bombs, JSON validated in one pass.

The cost of a body is bounded by its size before any of it is parsed: at most
``limit`` bytes are received (compressed or not) and at most ``limit`` bytes are
inflated; data after the gzip member is refused as soon as it arrives. The bytes
are then parsed and validated by pydantic in one pass (its JSON parser has a
nesting limit and refuses numbers Python would choke on), so that what is not
JSON is a 400 and what is JSON but not the model a 422.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from envparity.collector.api.errors import ApiError, invalid

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)


class BodyError(ApiError):
    """A body the collector refuses: too large, badly encoded or not JSON."""


class _Plain:
    """An uncompressed body, gathered chunk by chunk."""

    def __init__(self) -> None:
        self.out = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.out += chunk

    def finish(self) -> bytes:
        return bytes(self.out)


class _Inflater:
    """Feeds gzip chunks through zlib, never holding more than ``limit`` output bytes."""

    def __init__(self, limit: int) -> None:
        self._z = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        self._limit = limit
        self.out = bytearray()

    def feed(self, chunk: bytes) -> None:
        data = chunk
        while data:
            room = self._limit - len(self.out) + 1
            try:
                self.out += self._z.decompress(data, room)
            except zlib.error as exc:
                raise BodyError(400, f"body is not valid gzip: {exc}") from None
            if len(self.out) > self._limit:
                raise BodyError(413, f"body exceeds {self._limit} bytes after decompression")
            if self._z.unused_data:  # only ever set once the member has ended
                raise BodyError(400, "body is not valid gzip: trailing data after the gzip member")
            data = self._z.unconsumed_tail

    def finish(self) -> bytes:
        if not self._z.eof:
            raise BodyError(400, "body is not valid gzip: stream is truncated")
        return bytes(self.out)


async def read_body(stream: AsyncIterator[bytes], encoding: str | None, limit: int) -> bytes:
    """The decoded body, refusing more than ``limit`` bytes received or inflated before they are held."""
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    sink = _Inflater(limit) if encoding == "gzip" else _Plain()
    received = 0
    async for chunk in stream:
        received += len(chunk)
        if received > limit:
            raise BodyError(413, f"body exceeds {limit} bytes" + (" compressed" if encoding == "gzip" else ""))
        sink.feed(chunk)
    return sink.finish()


def parse(body: bytes, model: type[Model], what: str) -> Model:
    """``body`` as ``model``: 400 when it is not JSON, 422 naming the first invalid field."""
    if not body:
        raise BodyError(400, f"empty body; expected a JSON {what}")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        syntax = next((err for err in errors if err["type"] == "json_invalid"), None)
        if syntax is not None:
            raise BodyError(
                400, f"body is not valid JSON: {syntax.get('ctx', {}).get('error', syntax['msg'])}"
            ) from None
        raise invalid(what, errors) from None


async def read_validated(request: Request, model: type[Model], what: str, limit: int) -> tuple[Model, bytes]:
    """The body as ``model`` (``what`` names it in a 422), and its decoded bytes."""
    body = await read_body(request.stream(), request.headers.get("content-encoding"), limit)
    return parse(body, model, what), body

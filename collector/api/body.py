"""Reading a request body off the wire: size limit, gzip without inflating bombs, JSON, validation."""

from __future__ import annotations

import json
import zlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from envparity.collector.api.errors import ApiError, invalid

DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024
Model = TypeVar("Model", bound=BaseModel)


class BodyError(ApiError):
    """A body the collector refuses: too large, badly encoded or not JSON."""


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
            data = self._z.unconsumed_tail

    def finish(self) -> bytes:
        if not self._z.eof:
            raise BodyError(400, "body is not valid gzip: stream is truncated")
        return bytes(self.out)


async def read_body(stream: AsyncIterator[bytes], encoding: str | None, limit: int) -> bytes:
    """The decoded body, refusing anything over ``limit`` bytes before it is held in memory."""
    encoding = (encoding or "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise BodyError(415, f"unsupported Content-Encoding {encoding!r}; use gzip or none")
    if encoding == "gzip":
        inflater = _Inflater(limit)
        async for chunk in stream:
            inflater.feed(chunk)
        return inflater.finish()
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > limit:
            raise BodyError(413, f"body exceeds {limit} bytes")
    return bytes(body)


def parse_json(body: bytes) -> Any:
    if not body:
        raise BodyError(400, "empty body; expected a JSON snapshot")
    try:
        return json.loads(body)
    except UnicodeDecodeError:
        raise BodyError(400, "body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyError(400, f"body is not valid JSON: {exc}") from None


async def read_validated(request: Request, model: type[Model], what: str, limit: int) -> tuple[Model, bytes]:
    """The body as ``model`` (``what`` names it in a 422), and its decoded bytes."""
    body = await read_body(request.stream(), request.headers.get("content-encoding"), limit)
    try:
        return model.model_validate(parse_json(body)), body
    except ValidationError as exc:
        raise invalid(what, exc) from None

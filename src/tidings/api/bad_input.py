"""Turning input the decoder refused into a clear, stable error.

The fast path decodes every frame with msgspec. When that fails, this module
works out what to tell the client, off the hot path: the frame's ``id`` (so
the error can be matched to the request), whether the fault lies in a
parameter (``INVALID_PARAMS`` naming the field) or in the frame itself
(``BAD_FRAME``), and a message that says what is wrong in the client's terms
rather than the decoder's.
"""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from tidings import wire
from tidings.codecs import JSON, Codec
from tidings.errors import ErrorCode, TidingsError

# msgspec ends a validation message with the path of the offending value.
_AT_PATH = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_AT_KEY = re.compile(r" - at `key` in `\$(?P<path>[^`]*)`$")
# Only wire.Text's pattern (NUL and surrogates) is reworded; other patterns
# (an operator's username rule) say what they expect as they are.
_PATTERN_FAILURE = re.compile(r"Expected `str` matching regex '\^\[\^\\x00.*")
_UNKNOWN_FIELD = re.compile(r"Object contains unknown field `(?P<name>[^`]*)`")


def _field_name(path: str) -> str:
    """``.entities[0].user_id`` -> ``entities[0].user_id``."""
    return path[1:] if path.startswith(".") else path


def params_error(method: str, exc: msgspec.ValidationError) -> TidingsError:
    """``INVALID_PARAMS`` for a parameter the schema refused, with ``data.field``."""
    text = str(exc)
    field = ""
    if (match := _AT_PATH.search(text)) is not None:
        text, field = text[: match.start()], _field_name(match.group("path"))
    elif (match := _AT_KEY.search(text)) is not None:
        text, field = text[: match.start()], _field_name(match.group("path"))
        text = f"keys must be ids: {text}"
    if (unknown := _UNKNOWN_FIELD.fullmatch(text)) is not None:
        field = ".".join(p for p in (field, unknown.group("name")) if p)
        text = "unknown parameter"
    if _PATTERN_FAILURE.fullmatch(text):
        text = f"a string {wire.SAFE_TEXT_RULE}"
    if not field:
        return TidingsError(ErrorCode.INVALID_PARAMS, f"{method}: {text}")
    return TidingsError(ErrorCode.INVALID_PARAMS, f"{method}: {field}: {text}", field=field)


def frame_error(frame: bytes | str, exc: Exception) -> tuple[Any, TidingsError]:
    """The id to answer with and the error, for a frame msgspec could not decode
    into an envelope. The standard library's parser, which accepts what msgspec
    refuses (unpaired surrogates), tells a bad string apart from bad JSON."""
    if isinstance(exc, RecursionError):
        return None, TidingsError(ErrorCode.BAD_FRAME, "JSON is nested too deeply")
    try:
        value = json.loads(frame)
    except RecursionError:
        return None, TidingsError(ErrorCode.BAD_FRAME, "JSON is nested too deeply")
    except ValueError:
        return None, TidingsError(ErrorCode.BAD_FRAME, f"not a request frame: {exc}")
    request_id = _request_id(value)
    if not isinstance(value, dict):
        return None, TidingsError(ErrorCode.BAD_FRAME, "a request frame is a JSON object")
    bad = _first_unsafe_string(value.get("params"), "")
    if bad is not None:
        field = bad.lstrip(".")
        data = {"field": field} if field else {}
        return request_id, TidingsError(ErrorCode.INVALID_PARAMS,
                                        f"{field or 'params'}: a string {wire.SAFE_TEXT_RULE}",
                                        **data)
    if _first_unsafe_string(value, "") is not None:
        return request_id, TidingsError(ErrorCode.BAD_FRAME,
                                        f"a string in the frame {wire.SAFE_TEXT_RULE}")
    return request_id, TidingsError(ErrorCode.BAD_FRAME, f"not a request frame: {exc}")


def guess_request_id(frame: bytes | str, codec: Codec = JSON) -> Any:
    """The id of a frame that is JSON (or the connection's codec) but not a
    valid request, else None."""
    try:
        return request_id_of(json.loads(frame) if codec is JSON else codec.decode(frame))
    except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
        return None


def request_id_of(value: Any) -> Any:
    """The usable ``id`` of a decoded frame (an int, or a safe string), else None."""
    return _request_id(value)


def _request_id(value: Any) -> Any:
    if isinstance(value, dict):
        request_id = value.get("id")
        if isinstance(request_id, str) and _first_unsafe_string(request_id, "") is None:
            return request_id
        if isinstance(request_id, int) and not isinstance(request_id, bool):
            return request_id
    return None


def _first_unsafe_string(value: Any, path: str) -> str | None:
    """The path of the first string (or object key) holding NUL or a lone surrogate."""
    if isinstance(value, str):
        return path if _unsafe(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _unsafe(key):
                return f"{path}.{key!r}"
            found = _first_unsafe_string(item, f"{path}.{key}")
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found = _first_unsafe_string(item, f"{path}[{i}]")
            if found is not None:
                return found
    return None


_SAFE = re.compile(wire.SAFE_TEXT_PATTERN)


def _unsafe(text: str) -> bool:
    return _SAFE.match(text) is None

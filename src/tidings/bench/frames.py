"""The few frames a load client reads and writes, kept apart from the server
code so that a load-generator process imports nothing but msgspec."""

from __future__ import annotations

from typing import Any

import msgspec

# Pushes are skipped by this prefix before any decoding: the server encodes
# them with msgspec from a dict whose first key is "push".
PUSH_PREFIX = b'{"push"'


class ErrorBody(msgspec.Struct):
    code: str
    message: str = ""


class Reply(msgspec.Struct):
    """A result or an error; ``result`` stays raw because a load client only
    counts acknowledgements (decoding the message would cost the generator)."""

    id: int | str | None = None
    result: msgspec.Raw = msgspec.Raw(b"null")  # msgspec cannot put Raw in a union
    error: ErrorBody | None = None


reply_decoder = msgspec.json.Decoder(Reply)
_any_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()


def request(request_id: int, method: str, params: dict[str, Any]) -> bytes:
    return _encoder.encode({"id": request_id, "method": method, "params": params})


def decode_result(raw: msgspec.Raw) -> Any:
    return _any_decoder.decode(raw)


def send_frame(request_id: int, chat_id: int, local_id: str, text: str) -> bytes:
    """A ``message.send`` request by template (local ids and text are plain ASCII
    chosen by the bench, so no escaping is needed)."""
    return b'{"id":%d,"method":"message.send","params":{"chat_id":%d,"local_id":"%s",' \
           b'"text":"%s"}}' % (request_id, chat_id, local_id.encode(), text.encode())

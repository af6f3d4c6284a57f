"""The frame codecs a connection may speak: JSON (the default) and MessagePack.

Both carry the same data model: a MessagePack frame decodes to exactly the
value its JSON twin decodes to. So map keys are strings in both (a chat id as
a key is ``"12"``, as JSON has to write it), and ``bytes`` are base64 strings
in both; a client switches codecs without touching its frame handling. The
server encodes MessagePack from ``msgspec.to_builtins(..., str_keys=True)``,
which applies the JSON rules, and decodes requests with the JSON rules too
(``msgspec.convert(..., str_keys=True)``, in ``tidings.api.dispatcher``).

Imported by the server and by the client SDK; depends on msgspec only.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec


class PreEncoded:
    """A result value whose JSON is already encoded: a JSON frame copies
    ``json`` in place (no re-encoding), a MessagePack frame converts ``value``
    as usual. ``json`` must be exactly what the JSON codec makes of ``value``
    (a cached ``message.history`` page, ``services.history_pages``)."""

    __slots__ = ("json", "value")

    def __init__(self, json: bytes, value: Any) -> None:
        self.json = json
        self.value = value


def _json_hook(obj: Any) -> Any:
    if isinstance(obj, PreEncoded):
        return msgspec.Raw(obj.json)
    raise TypeError(f"Encoding objects of type {type(obj).__name__} is unsupported")


def _builtins_hook(obj: Any) -> Any:
    if isinstance(obj, PreEncoded):
        return obj.value
    raise TypeError(f"Encoding objects of type {type(obj).__name__} is unsupported")


_json_encoder = msgspec.json.Encoder(enc_hook=_json_hook)
_json_decoder = msgspec.json.Decoder()
_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder()


class Codec:
    """One way of turning frames into bytes. ``binary``: a WebSocket carries
    its frames as binary messages (JSON goes as text)."""

    __slots__ = ("binary", "name", "subprotocol")

    def __init__(self, name: str, *, binary: bool) -> None:
        self.name = name
        self.binary = binary
        self.subprotocol = f"tidings.{name}"

    def encode(self, obj: Any) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes | str) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


class JsonCodec(Codec):
    __slots__ = ()

    def encode(self, obj: Any) -> bytes:
        return _json_encoder.encode(obj)

    def decode(self, data: bytes | str) -> Any:
        return _json_decoder.decode(data)


class MsgpackCodec(Codec):
    __slots__ = ()

    def encode(self, obj: Any) -> bytes:
        # The JSON data model first (string keys, base64 bytes): see the module doc.
        return _msgpack_encoder.encode(msgspec.to_builtins(obj, str_keys=True,
                                                           enc_hook=_builtins_hook))

    def decode(self, data: bytes | str) -> Any:
        return _msgpack_decoder.decode(data.encode() if isinstance(data, str) else data)


JSON: Final = JsonCodec("json", binary=False)
MSGPACK: Final = MsgpackCodec("msgpack", binary=True)
CODECS: Final[dict[str, Codec]] = {JSON.name: JSON, MSGPACK.name: MSGPACK}
# The WebSocket subprotocols a server offers, preferred first; none chosen means JSON.
SUBPROTOCOLS: Final = (MSGPACK.subprotocol, JSON.subprotocol)


def by_subprotocol(protocol: str | None) -> Codec:
    return next((c for c in CODECS.values() if c.subprotocol == protocol), JSON)


class PushFrames:
    """One push frame in every codec, each encoded at most once, when a
    connection speaking it first needs it: a fan-out to N MessagePack devices
    converts the (JSON) frame from the bus once, not N times."""

    __slots__ = ("_json", "_msgpack")

    def __init__(self, json_frame: bytes) -> None:
        self._json = json_frame
        self._msgpack: bytes | None = None

    def get(self, codec: Codec) -> bytes:
        if codec is JSON:
            return self._json
        if self._msgpack is None:
            self._msgpack = MSGPACK.encode(JSON.decode(self._json))
        return self._msgpack

"""Which media type an upload really is, judged from its first bytes.

The Content-Type a client declares is a claim, not a fact: an "image" that is
really a PDF or an HTML page must not reach other users' image viewers. So the
type we store comes from the content's magic numbers (the ``filetype``
library: pure Python, no libmagic on the machine), and the declared type is
only a fallback for ``kind="file"`` uploads whose content nothing recognises
(plain text, CSV, source code...).

Containers that hold sound alone or pictures and sound (MP4, WebM, Matroska,
Ogg, 3GPP) cannot be told apart from their first bytes without parsing every
track. For those the upload's kind decides: a WebM voice note uploaded as
``audio`` is stored as ``audio/webm``, the same bytes uploaded as ``video`` as
``video/webm``. Every other audio/video type must match the kind exactly.
"""

from __future__ import annotations

import re

import filetype  # type: ignore[import-untyped]

# filetype never reads past its first 8 KiB; WebM's doctype and an MP4's list
# of compatible brands can sit anywhere in that window, so callers pass this much.
SNIFF_BYTES = 8192

KINDS = frozenset({"image", "video", "audio", "file"})

# Images clients may display inline. APNG is a PNG with an animation chunk.
IMAGE_MIMES = frozenset(
    {"image/jpeg", "image/png", "image/apng", "image/gif", "image/webp", "image/heic", "image/avif"}
)

# Subtypes shared by audio/ and video/ (see the module docstring).
_EITHER_AUDIO_OR_VIDEO = frozenset({"mp4", "webm", "x-matroska", "ogg", "3gpp"})

# filetype's names where a registered one exists, keyed by filetype's extension.
_REGISTERED = {
    "wav": "audio/wav",
    "flac": "audio/flac",
    "aiff": "audio/aiff",
    "woff": "font/woff",
    "woff2": "font/woff2",
    "ttf": "font/ttf",
    "otf": "font/otf",
    "eot": "application/vnd.ms-fontobject",
}

OCTET_STREAM = "application/octet-stream"

# RFC 6838 section 4.2 restricted-name, for type and subtype alike.
_RESTRICTED_NAME = r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}"
_MIME_ESSENCE = re.compile(rf"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}")

_IMAGE_NAMES = "JPEG, PNG, GIF, WebP, HEIC or AVIF"


class MimeMismatch(Exception):
    """The content of an upload is not of the kind it was uploaded as."""

    def __init__(self, kind: str, sniffed: str | None) -> None:
        super().__init__(kind, sniffed)
        self.kind = kind
        self.sniffed = sniffed

    def __str__(self) -> str:
        expected = {
            "image": f"a {_IMAGE_NAMES} image",
            "video": "a video",
            "audio": "audio",
        }.get(self.kind, self.kind)
        found = (
            f"its content is {self.sniffed}"
            if self.sniffed
            else "its content is not a recognised media type"
        )
        return f"an upload of kind {self.kind!r} must be {expected}, but {found}"


def sniff_mime(head: bytes) -> str | None:
    """The mime type the first bytes of a file show, or None when nothing matches.

    Text formats (plain text, CSV, JSON, HTML) have no magic number: None.
    """
    if not head:
        return None
    found = filetype.guess(head[:SNIFF_BYTES])
    if found is None:
        return None
    mime = str(_REGISTERED.get(found.extension, found.mime))
    if mime == "audio/ogg" and _is_ogg_video(head):
        return "video/ogg"
    return None if mime == OCTET_STREAM else mime


def check_kind(kind: str, declared_mime: str | None, head: bytes) -> str:
    """The mime type to store for an upload of ``kind`` that starts with ``head``.

    Raises MimeMismatch when the content is not of that kind, and ValueError for
    a kind that does not exist. For image, audio and video the sniffed type wins
    over a declared one that contradicts it.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown upload kind {kind!r}; expected one of {sorted(KINDS)}")
    sniffed = sniff_mime(head)
    if kind == "file":
        return sniffed or _valid_essence(declared_mime) or OCTET_STREAM
    if kind == "image":
        if sniffed in IMAGE_MIMES:
            return sniffed
        raise MimeMismatch(kind, sniffed)
    return _media_of_kind(kind, sniffed)


def _media_of_kind(kind: str, sniffed: str | None) -> str:
    """``sniffed`` under the kind's top-level type (audio or video), if it fits."""
    if sniffed is not None:
        top, _, subtype = sniffed.partition("/")
        if top == kind:
            return sniffed
        if top in ("audio", "video") and subtype in _EITHER_AUDIO_OR_VIDEO:
            return f"{kind}/{subtype}"
    raise MimeMismatch(kind, sniffed)


def _valid_essence(declared: str | None) -> str | None:
    """``type/subtype`` of a declared mime type, lower-cased, or None if malformed.

    Parameters (``; charset=...``) are dropped: the stored type is the essence only.
    """
    if not declared:
        return None
    essence = declared.split(";", 1)[0].strip().lower()
    return essence if _MIME_ESSENCE.fullmatch(essence) else None


def _is_ogg_video(head: bytes) -> bool:
    """An Ogg stream whose first page starts a Theora (video) bitstream."""
    return b"\x80theora" in head[:SNIFF_BYTES]

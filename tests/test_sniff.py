"""Upload types come from the content, not from what the client declares: an
"image" that is really a PDF is refused, a PNG declared as JPEG is stored as
PNG, and ambiguous audio/video containers take the upload's kind."""

from __future__ import annotations

import io
import struct
import wave
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tidings.media.sniff import SNIFF_BYTES, MimeMismatch, check_kind, sniff_mime


def _image(fmt: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), "red").save(out, fmt)
    return out.getvalue()


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    """The ISO base media file header of MP4, M4A, 3GP, HEIC, AVIF."""
    body = major + b"\0\0\0\0" + b"".join(compatible)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free"


def _ebml(doctype: bytes) -> bytes:
    """The EBML header that starts WebM and Matroska files."""
    doc = b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    header = b"\x42\x86\x81\x01" + doc
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(header)]) + header + b"\x18\x53\x80\x67"


def _ogg(first_packet: bytes) -> bytes:
    """One Ogg page (beginning of stream) holding a codec's first header packet."""
    page = b"OggS\x00\x02" + b"\0" * 8 + b"\x01\0\0\0" + b"\0" * 8
    return page + bytes([1, len(first_packet)]) + first_packet


def _wav() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\0\0" * 100)
    return out.getvalue()


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("notes.txt", "hello")
    return out.getvalue()


JPEG = _image("JPEG")
PNG = _image("PNG")
GIF = _image("GIF")
WEBP = _image("WEBP")
MP4 = _ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41")
M4A = _ftyp(b"M4A ", b"M4A ", b"mp42", b"isom")
WEBM = _ebml(b"webm")
MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" + b"\0" * 64
OGG_OPUS = _ogg(b"OpusHead\x01\x01" + b"\0" * 9)
OGG_THEORA = _ogg(b"\x80theora" + b"\0" * 35)
WAV = _wav()
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
ZIP = _zip()
TEXT = b"minutes of the meeting\nall agreed\n"


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"avif", b"avif", b"mif1"), "image/avif"),
        (MP4, "video/mp4"),
        (M4A, "audio/mp4"),
        (WEBM, "video/webm"),
        (_ebml(b"matroska"), "video/x-matroska"),
        (MP3, "audio/mpeg"),
        (b"\xff\xfb\x90\x00" + b"\0" * 64, "audio/mpeg"),
        (OGG_OPUS, "audio/ogg"),
        (OGG_THEORA, "video/ogg"),
        (WAV, "audio/wav"),
        (PDF, "application/pdf"),
        (ZIP, "application/zip"),
        (TEXT, None),
        (b'{"json": true}', None),
        (b"", None),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_sniffing_recognises_each_format(head: bytes, expected: str | None) -> None:
    assert sniff_mime(head) == expected


@pytest.mark.parametrize(
    ("kind", "head", "stored"),
    [
        ("image", JPEG, "image/jpeg"),
        ("image", PNG, "image/png"),
        ("image", GIF, "image/gif"),
        ("image", WEBP, "image/webp"),
        ("video", MP4, "video/mp4"),
        ("video", WEBM, "video/webm"),
        ("video", OGG_THEORA, "video/ogg"),
        ("audio", MP3, "audio/mpeg"),
        ("audio", OGG_OPUS, "audio/ogg"),
        ("audio", WAV, "audio/wav"),
        ("audio", M4A, "audio/mp4"),
        # Containers that may hold sound alone: the kind decides.
        ("audio", WEBM, "audio/webm"),
        ("audio", MP4, "audio/mp4"),
        ("video", M4A, "video/mp4"),
        ("video", OGG_OPUS, "video/ogg"),
        ("file", PDF, "application/pdf"),
        ("file", ZIP, "application/zip"),
        ("file", JPEG, "image/jpeg"),
        ("file", MP4, "video/mp4"),
    ],
)
def test_content_of_the_right_kind_is_stored_under_its_sniffed_type(
    kind: str, head: bytes, stored: str
) -> None:
    assert check_kind(kind, None, head) == stored


@pytest.mark.parametrize(
    ("kind", "head", "sniffed"),
    [
        ("image", PDF, "application/pdf"),
        ("image", MP4, "video/mp4"),
        ("image", TEXT, None),
        ("image", b"", None),
        ("video", JPEG, "image/jpeg"),
        ("video", MP3, "audio/mpeg"),
        ("video", ZIP, "application/zip"),
        ("audio", PDF, "application/pdf"),
        ("audio", WEBP, "image/webp"),
        ("audio", TEXT, None),
    ],
)
def test_content_of_another_kind_is_refused(kind: str, head: bytes, sniffed: str | None) -> None:
    with pytest.raises(MimeMismatch) as caught:
        check_kind(kind, f"{kind}/whatever", head)
    assert (caught.value.kind, caught.value.sniffed) == (kind, sniffed)
    assert repr(kind) in str(caught.value)


def test_a_pdf_uploaded_as_an_image_names_what_it_is() -> None:
    with pytest.raises(MimeMismatch, match=r"must be a JPEG, PNG.*its content is application/pdf"):
        check_kind("image", "image/png", PDF)


def test_the_sniffed_type_wins_over_a_contradicting_declared_one() -> None:
    assert check_kind("image", "image/png", JPEG) == "image/jpeg"
    assert check_kind("audio", "audio/ogg", MP3) == "audio/mpeg"
    assert check_kind("video", "video/quicktime", WEBM) == "video/webm"
    assert check_kind("file", "text/plain", PDF) == "application/pdf"


@pytest.mark.parametrize(
    ("declared", "stored"),
    [
        ("text/csv", "text/csv"),
        ("Text/Plain; charset=UTF-8", "text/plain"),
        ("application/vnd.api+json", "application/vnd.api+json"),
        (None, "application/octet-stream"),
        ("", "application/octet-stream"),
        ("plain text", "application/octet-stream"),
        ("text/", "application/octet-stream"),
        ("../../etc/passwd", "application/octet-stream"),
        ("text/html\r\nX-Injected: 1", "application/octet-stream"),
    ],
)
def test_unrecognised_files_keep_a_well_formed_declared_type(
    declared: str | None, stored: str
) -> None:
    assert check_kind("file", declared, TEXT) == stored


def test_an_empty_file_is_accepted_as_a_file_only() -> None:
    assert check_kind("file", "text/plain", b"") == "text/plain"
    with pytest.raises(MimeMismatch):
        check_kind("audio", "audio/mpeg", b"")


def test_an_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="sticker"):
        check_kind("sticker", None, PNG)


def test_only_the_first_sniff_bytes_matter() -> None:
    tail = b"%PDF-1.4" + bytes(range(256)) * 100
    assert len(PNG) < SNIFF_BYTES
    assert sniff_mime(PNG + tail) == sniff_mime(PNG + b"\0" * SNIFF_BYTES) == "image/png"


@given(st.binary(max_size=SNIFF_BYTES + 16))
def test_sniffing_arbitrary_bytes_never_fails(head: bytes) -> None:
    sniffed = sniff_mime(head)
    assert sniffed is None or sniffed.count("/") == 1
    assert check_kind("file", None, head) == (sniffed or "application/octet-stream")

"""Image thumbnails: right size, upright, first frame, transparency kept; and
every hostile or broken file (decompression bomb, truncated, random bytes,
unsupported format) refused with ImageRejected, never any other exception."""

from __future__ import annotations

import asyncio
import io
import os
import struct
import tempfile
import warnings
import zlib
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tidings.media.thumbnails import (
    ImageRejected,
    Thumbnail,
    ThumbnailProcessPool,
    make_thumbnail,
    thumbnail_off_loop,
)


def _save(path: Path, im: Image.Image, fmt: str, **params: object) -> Path:
    im.save(path, fmt, **params)
    return path


def _decoded(thumb: Thumbnail) -> Image.Image:
    im = Image.open(io.BytesIO(thumb.data))
    assert im.format == "WEBP"
    assert im.size == (thumb.width, thumb.height)
    return im


def _png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR that claim a size, then no pixel data at all."""

    def chunk(tag: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(tag + body))
        return struct.pack(">I", len(body)) + tag + body + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "AVIF"])
@pytest.mark.parametrize(
    ("size", "thumb_size"),
    [((1200, 800), (320, 213)), ((600, 900), (213, 320)), ((100, 50), (100, 50))],
)
def test_thumbnail_fits_the_box_and_keeps_the_aspect_ratio(
    tmp_path: Path, fmt: str, size: tuple[int, int], thumb_size: tuple[int, int]
) -> None:
    path = _save(tmp_path / f"in.{fmt.lower()}", Image.new("RGB", size, "green"), fmt)
    thumb = make_thumbnail(path)
    assert thumb.mime == "image/webp"
    assert (thumb.width, thumb.height) == thumb_size
    assert (thumb.source_width, thumb.source_height) == size
    assert _decoded(thumb).size == thumb_size


def test_max_side_sets_the_box(tmp_path: Path) -> None:
    path = _save(tmp_path / "in.jpg", Image.new("RGB", (1000, 500), "green"), "JPEG")
    thumb = make_thumbnail(path, max_side=100)
    assert (thumb.width, thumb.height) == (100, 50)


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # Stored landscape, left half red; orientation 6 means "turn 90 degrees
    # clockwise to show", so the picture is portrait with the red half on top.
    im = Image.new("RGB", (400, 200), "blue")
    im.paste("red", (0, 0, 200, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path / "phone.jpg", im, "JPEG", exif=exif)
    thumb = make_thumbnail(path)
    assert (thumb.source_width, thumb.source_height) == (200, 400)
    assert (thumb.width, thumb.height) == (160, 320)
    shown = _decoded(thumb).convert("RGB")
    top, bottom = shown.getpixel((80, 40)), shown.getpixel((80, 280))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def test_an_animated_gif_gives_its_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (64, 64), colour) for colour in ("red", "blue", "blue")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, "GIF", save_all=True, append_images=frames[1:], duration=100)
    pixel = _decoded(make_thumbnail(path)).convert("RGB").getpixel((32, 32))
    assert isinstance(pixel, tuple)
    assert pixel[0] > 200 and pixel[2] < 60


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_transparency_is_kept(tmp_path: Path, fmt: str) -> None:
    im = Image.new("RGBA", (100, 100), (255, 0, 0, 255))
    im.paste((0, 0, 0, 0), (50, 0, 100, 100))
    path = _save(tmp_path / f"sticker.{fmt.lower()}", im, fmt)
    shown = _decoded(make_thumbnail(path)).convert("RGBA")
    opaque, clear = shown.getpixel((10, 50)), shown.getpixel((90, 50))
    assert isinstance(opaque, tuple) and isinstance(clear, tuple)
    assert opaque[3] == 255 and clear[3] == 0


def test_a_huge_claimed_size_is_refused_from_the_header_alone(tmp_path: Path) -> None:
    # No pixel data follows the header: a refusal that names the pixel count
    # (not a decoding error) shows that nothing was decoded or allocated.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageRejected, match="more than 50000000 pixels"):
        make_thumbnail(path)


@pytest.mark.parametrize("warning_action", ["error", "ignore", "default"])
@pytest.mark.parametrize("size", [(8000, 8000), (9000, 10000), (20000, 20000)])
def test_pixel_limit_holds_whatever_pillow_and_the_warning_filters_do(
    tmp_path: Path, warning_action: str, size: tuple[int, int]
) -> None:
    # 8000x8000 is under Pillow's own limit, 9000x10000 between its warning and
    # its error, 20000x20000 past its error: all are over ours.
    path = tmp_path / "big.png"
    path.write_bytes(_png_header_only(*size))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter(warning_action)  # type: ignore[arg-type]
        with pytest.raises(ImageRejected, match="pixels"):
            make_thumbnail(path)


def test_max_pixels_is_the_callers_limit(tmp_path: Path) -> None:
    path = _save(tmp_path / "in.png", Image.new("RGB", (400, 300), "green"), "PNG")
    with pytest.raises(ImageRejected, match="400x300 pixels, more than the limit of 100000"):
        make_thumbnail(path, max_pixels=100_000)
    assert make_thumbnail(path, max_pixels=120_000).width == 320


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda jpeg: jpeg[: len(jpeg) // 2], id="truncated-jpeg"),
        pytest.param(lambda jpeg: jpeg[:200], id="header-only-jpeg"),
        pytest.param(lambda jpeg: os.urandom(4096), id="random-bytes"),
        pytest.param(lambda jpeg: b"", id="empty"),
        pytest.param(lambda jpeg: b"%PDF-1.4\n%%EOF\n", id="pdf"),
    ],
)
def test_broken_or_foreign_files_are_rejected(
    tmp_path: Path, damage: Callable[[bytes], bytes]
) -> None:
    good = io.BytesIO()
    Image.effect_noise((800, 600), 64).convert("RGB").save(good, "JPEG")
    path = tmp_path / "upload"
    path.write_bytes(damage(good.getvalue()))
    with pytest.raises(ImageRejected):
        make_thumbnail(path)


def test_formats_outside_the_image_kind_are_not_decoded(tmp_path: Path) -> None:
    path = _save(tmp_path / "scan.tiff", Image.new("RGB", (64, 64), "green"), "TIFF")
    with pytest.raises(ImageRejected, match="not an image in a supported format"):
        make_thumbnail(path)


def test_a_missing_file_is_the_callers_error_not_the_images(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_thumbnail(tmp_path / "gone.jpg")


def _sample_images() -> list[bytes]:
    samples = []
    for fmt in ("JPEG", "PNG", "GIF", "WEBP"):
        out = io.BytesIO()
        Image.effect_noise((48, 32), 40).convert("RGB").save(out, fmt)
        samples.append(out.getvalue())
    return samples


SAMPLES = _sample_images()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8),
    st.integers(0, 10_000),
)
def test_corrupted_images_give_a_thumbnail_or_a_rejection(
    original: bytes, flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(original)
    for offset, value in flips:
        data[offset % len(data)] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzzed"
        path.write_bytes(bytes(data[: max(cut, 1)] if cut < len(data) else data))
        try:
            thumb = make_thumbnail(path)
        except ImageRejected as exc:
            assert exc.reason
        else:
            assert 0 < thumb.width <= 320 and 0 < thumb.height <= 320


async def test_off_loop_in_the_default_executor(tmp_path: Path) -> None:
    path = _save(tmp_path / "in.png", Image.new("RGB", (640, 480), "green"), "PNG")
    thumb = await thumbnail_off_loop(path, max_side=64)
    assert (thumb.width, thumb.height) == (64, 48)


async def test_process_pool_makes_thumbnails_and_survives_a_dead_worker(tmp_path: Path) -> None:
    good = _save(tmp_path / "in.jpg", Image.new("RGB", (640, 480), "green"), "JPEG")
    junk = tmp_path / "junk"
    junk.write_bytes(os.urandom(1000))
    pool = ThumbnailProcessPool(max_workers=1)
    try:
        assert (await thumbnail_off_loop(good, executor=pool)).width == 320
        with pytest.raises(ImageRejected, match="not an image"):
            await thumbnail_off_loop(junk, executor=pool)
        # A worker killed mid-job (as a decoder segfault would) breaks that job only.
        with pytest.raises(BrokenProcessPool):
            await asyncio.wrap_future(pool.submit(os._exit, 1))
        assert (await thumbnail_off_loop(good, executor=pool)).height == 240
    finally:
        pool.shutdown()

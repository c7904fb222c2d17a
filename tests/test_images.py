"""open_image on every kind of good and bad input, samples, and the tensor helpers."""

from __future__ import annotations

import base64
import io
import struct
import subprocess
import sys
import warnings
import zlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from explorer import images
from explorer.images import ImageError, open_image

from .conftest import ROOT


def encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width×height, with no pixel data at all."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def solid(mode: str, size=(6, 4), color=0) -> Image.Image:
    return Image.new(mode, size, color)


# --- sources -------------------------------------------------------------------------------------


def test_png_bytes_exact_pixels():
    im = Image.new("RGB", (5, 3), (10, 20, 30))
    im.putpixel((4, 2), (200, 100, 50))
    out = open_image(encode(im, "PNG"))
    assert out.mode == "RGB" and out.size == (5, 3)
    assert out.getpixel((4, 2)) == (200, 100, 50)
    assert out.getpixel((0, 0)) == (10, 20, 30)


def test_path_and_str_and_filelike(tmp_path):
    im = Image.new("RGB", (7, 9), (1, 2, 3))
    p = tmp_path / "x.png"
    im.save(p)
    assert open_image(p).size == (7, 9)
    assert open_image(str(p)).getpixel((0, 0)) == (1, 2, 3)
    with open(p, "rb") as f:
        assert open_image(f).size == (7, 9)


def test_jpeg_decodes_close_to_source():
    im = Image.new("RGB", (32, 32), (120, 60, 200))
    out = open_image(encode(im, "JPEG", quality=95))
    assert out.size == (32, 32)
    assert np.abs(np.asarray(out, int) - [120, 60, 200]).max() <= 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"just some text, not an image", "not an image we can read"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "not an image we can read"),
    ],
)
def test_bad_bytes(data, message):
    with pytest.raises(ImageError, match=message):
        open_image(data)


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="There is no image file at"):
        open_image(tmp_path / "nope.jpg")


def test_directory_is_not_a_file(tmp_path):
    with pytest.raises(ImageError, match="There is no image file at"):
        open_image(tmp_path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_truncated_file_fails_at_open(fmt):
    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = encode(im, fmt)
    with pytest.raises(ImageError, match="damaged or truncated"):
        open_image(data[: len(data) // 2])


def test_disallowed_format_is_refused():
    data = encode(solid("RGB"), "TIFF")
    with pytest.raises(ImageError, match="JPEG, PNG, WebP, GIF or BMP"):
        open_image(data)


def test_pixel_cap_checked_from_header_before_decoding():
    # 30000×30000 = 900 MP claimed by a 60-byte file: must be refused without decoding anything.
    with pytest.raises(ImageError, match="megapixels"):
        open_image(png_header_only(30000, 30000))
    # Under Pillow's own bomb limit but over ours.
    with pytest.raises(ImageError, match="the limit is 40 megapixels"):
        open_image(png_header_only(8000, 6000))


def test_pixel_cap_parameter():
    data = encode(solid("RGB", (100, 100)), "PNG")
    assert open_image(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageError, match="100×100"):
        open_image(data, max_pixels=9_999)


def test_byte_cap():
    data = encode(solid("RGB", (50, 50)), "BMP")
    with pytest.raises(ImageError, match="larger than"):
        open_image(data, max_bytes=len(data) - 1)


def test_zero_sized_image_is_refused():
    with pytest.raises(ImageError):
        open_image(png_header_only(0, 10))


# --- orientation, modes, frames ------------------------------------------------------------------


def test_exif_orientation_applied():
    im = Image.new("RGB", (40, 20), (255, 0, 0))
    im.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    out = open_image(encode(im, "JPEG", exif=exif, quality=95))
    assert out.size == (20, 40)
    top, bottom = np.asarray(out, int)[5, 10], np.asarray(out, int)[35, 10]
    assert top[0] > 200 and top[2] < 50  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 50


def test_rgba_composited_on_white():
    im = Image.new("RGBA", (3, 1))
    im.putpixel((0, 0), (255, 0, 0, 0))  # fully transparent red
    im.putpixel((1, 0), (0, 0, 255, 255))  # opaque blue
    im.putpixel((2, 0), (0, 0, 0, 128))  # half-transparent black
    out = open_image(encode(im, "PNG"))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (0, 0, 255)
    assert out.getpixel((2, 0)) == (127, 127, 127)


def test_la_and_l_and_1():
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (0, 0))
    la.putpixel((1, 0), (50, 255))
    out = open_image(encode(la, "PNG"))
    assert out.getpixel((0, 0)) == (255, 255, 255)
    assert out.getpixel((1, 0)) == (50, 50, 50)
    assert open_image(encode(solid("L", color=77), "PNG")).getpixel((1, 1)) == (77, 77, 77)
    one = solid("1", color=1)
    assert open_image(encode(one, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency_no_warning():
    p = Image.new("P", (2, 1))
    p.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    p.putpixel((0, 0), 0)
    p.putpixel((1, 0), 1)
    data = encode(p, "PNG", transparency=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = open_image(data)
    assert out.getpixel((0, 0)) == (255, 255, 255)  # transparent index -> background
    assert out.getpixel((1, 0)) == (0, 255, 0)


def test_cmyk_jpeg():
    out = open_image(encode(Image.new("CMYK", (8, 8), (0, 0, 0, 0)), "JPEG", quality=95))
    assert out.mode == "RGB"
    assert min(out.getpixel((4, 4))) >= 250


def test_sixteen_bit_png_rescaled_not_clipped():
    arr = np.array([[0, 25700, 65535]], dtype=np.uint16)
    im = Image.fromarray(arr)
    assert im.mode.startswith("I")
    out = open_image(encode(im, "PNG"))
    assert [out.getpixel((x, 0))[0] for x in range(3)] == [0, 100, 255]


def test_int32_and_float_modes_converted():
    i32 = Image.fromarray(np.array([[-100, 0, 300]], dtype=np.int32))
    assert [images._to_rgb(i32).getpixel((x, 0))[0] for x in range(3)] == [0, 64, 255]
    f = Image.fromarray(np.array([[0.0, 0.25, 1.0]], dtype=np.float32))
    assert [images._to_rgb(f).getpixel((x, 0))[0] for x in range(3)] == [0, 64, 255]
    fw = Image.fromarray(np.array([[-2.0, 0.0, 6.0]], dtype=np.float32))
    assert [images._to_rgb(fw).getpixel((x, 0))[0] for x in range(3)] == [0, 64, 255]


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (4, 4), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    out = open_image(buf.getvalue())
    assert out.size == (4, 4)
    r, g, b = out.getpixel((1, 1))
    assert r > 240 and b < 15


@pytest.mark.parametrize("fmt", ["BMP", "WEBP", "GIF", "PNG"])
def test_allowed_formats(fmt):
    out = open_image(
        encode(
            Image.new("RGB", (9, 5), (0, 255, 0)),
            fmt,
            **({"lossless": True} if fmt == "WEBP" else {}),
        )
    )
    assert out.size == (9, 5) and out.mode == "RGB"
    assert out.getpixel((2, 2))[1] > 240


MODES = ["1", "L", "LA", "P", "RGB", "RGBA"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(1, 12),
    w=st.integers(1, 12),
    mode=st.sampled_from(MODES),
    fmt=st.sampled_from(["PNG", "BMP", "GIF", "WEBP"]),
    seed=st.integers(0, 2**16),
)
def test_roundtrip_property(h, w, mode, fmt, seed):
    rng = np.random.default_rng(seed)
    rgba = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
    im = rgba.convert(mode)
    if fmt == "BMP" and mode in ("LA", "RGBA"):
        im = im.convert("RGB")
    kw = {"lossless": True} if fmt == "WEBP" else {}
    out = open_image(encode(im, fmt, **kw))
    assert out.mode == "RGB" and out.size == (w, h)
    t = images.to_tensor(out)
    assert t.shape == (3, h, w) and 0.0 <= float(t.min()) and float(t.max()) <= 1.0
    back = images.to_image(t)
    assert np.array_equal(np.asarray(back), np.asarray(out))
    if fmt == "PNG" and mode == "RGB":
        assert np.array_equal(np.asarray(out), np.asarray(im))


# --- samples and tensor helpers ------------------------------------------------------------------


def test_samples_have_chelsea_first():
    s = images.sample_images()
    assert next(iter(s)) == "chelsea"
    assert s["chelsea"].size == (451, 300) and s["chelsea"].mode == "RGB"
    assert all(im.mode == "RGB" for im in s.values())
    s["chelsea"].putpixel((0, 0), (1, 2, 3))  # callers get copies: mutation does not leak
    assert images.sample_images()["chelsea"].getpixel((0, 0)) != (1, 2, 3)


def test_to_tensor_values_and_layout():
    im = Image.new("RGB", (3, 2), (255, 0, 51))
    t = images.to_tensor(im)
    assert t.shape == (3, 2, 3) and t.dtype == torch.float32
    assert torch.allclose(t[:, 1, 2], torch.tensor([1.0, 0.0, 0.2]))


def test_normalize_matches_torchvision_and_inverts():
    from torchvision.transforms import v2

    t = torch.rand(3, 5, 7, generator=torch.Generator().manual_seed(0))
    ref = v2.Normalize(images.IMAGENET_MEAN, images.IMAGENET_STD)(t)
    assert torch.allclose(images.normalize(t), ref, atol=1e-6)
    batch = t[None].repeat(2, 1, 1, 1)
    assert torch.allclose(images.normalize(batch)[1], ref, atol=1e-6)
    assert torch.allclose(images.denormalize(images.normalize(batch)), batch, atol=1e-6)


def test_resize_short_and_long_cap():
    cat = images.sample_images()["chelsea"]
    assert images.resize_short(cat, 224).size == (337, 224)
    strip = Image.new("RGB", (5000, 1))
    out = images.resize_short(strip, 224)
    assert out.size == (896, 1)  # long side capped at 4 × 224, short side never below 1
    assert images.resize_short(Image.new("RGB", (1, 5000)), 224, max_long=1000).size == (1, 1000)
    with pytest.raises(ValueError):
        images.resize_short(cat, 0)


def test_explorer_does_not_import_streamlit():
    code = (
        "import importlib, pkgutil, sys, explorer\n"
        "for m in pkgutil.iter_modules(explorer.__path__):\n"
        "    importlib.import_module('explorer.' + m.name)\n"
        "assert 'streamlit' not in sys.modules, 'explorer imported streamlit'\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and "ok" in r.stdout, r.stderr


@pytest.mark.parametrize(
    ("size", "expected"), [((3000, 1), (512, 85)), ((1, 3000), (85, 512)), ((451, 300), (451, 300))]
)
def test_preview_letterboxes_extreme_strips(size, expected):
    im = Image.new("RGB", size, (255, 0, 0))
    out = images.preview(im)
    assert out.size == expected
    # The strip is kept in the middle (thinned by the downscale, so blended with the margin but
    # still red); the added margin is the stated background.
    r, g, b = out.getpixel((out.width // 2, out.height // 2))
    assert r == 255 and g == b and g < 240
    if size != expected:
        assert out.getpixel((0, 0)) == images.BACKGROUND


def test_normalize_with_given_stats_matches_the_formula_and_round_trips():
    t = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    mean, std = (0.2, 0.5, 0.7), (0.1, 0.3, 0.9)
    want = (t - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(images.normalize(t, mean, std), want)
    torch.testing.assert_close(images.normalize(t, torch.tensor(mean), torch.tensor(std)), want)
    torch.testing.assert_close(images.denormalize(images.normalize(t, mean, std), mean, std), t)
    # The default stays ImageNet's.
    want_in = (t[0] - torch.tensor(images.IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(
        images.IMAGENET_STD
    ).view(3, 1, 1)
    torch.testing.assert_close(images.normalize(t[0]), want_in)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_encode_writes_a_file_pillow_reads_back(fmt):
    img = Image.new("RGB", (20, 10), (10, 200, 30))
    data = images.encode(img, fmt)
    with Image.open(io.BytesIO(data)) as back:
        assert back.format == fmt and back.size == (20, 10)
        r, g, b = back.convert("RGB").getpixel((5, 5))
        assert abs(r - 10) < 8 and abs(g - 200) < 8 and abs(b - 30) < 8
    url = images.data_url(img, fmt)
    mime = {"PNG": "png", "WEBP": "webp", "JPEG": "jpeg"}[fmt]
    assert url.startswith(f"data:image/{mime};base64,")
    assert base64.b64decode(url.split(",", 1)[1]) == data
    with pytest.raises(ValueError):
        images.encode(img, "TIFF")


def test_centre_square_resizes_the_short_side_then_crops_the_middle():
    # A 40×20 picture: left half red, right half blue, with a green column in the exact middle.
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (20, 0, 40, 20))
    x = images.centre_square(img, 10)  # short side 20 -> 10: 20×10, centre square = columns 5..15
    assert x.shape == (3, 10, 10)
    want = images.to_tensor(images.resize_short(img, 10).crop((5, 0, 15, 10)))
    torch.testing.assert_close(x, want)
    assert x[0, :, 0].min() > 0.9 and x[2, :, -1].min() > 0.9  # red on the left, blue on the right

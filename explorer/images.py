"""Safe image input, the embedded sample photos, and tensor <-> image helpers.

Every image a person gives the app goes through `open_image`, which refuses anything it cannot
decode safely with an `ImageError` whose message is one sentence a person understands.
"""

from __future__ import annotations

import io
import math
import struct
import warnings
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from explorer.errors import UserError

# The decoders we allow. Anything else (TIFF, PSD, EPS, ...) is refused before it is parsed.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
MAX_PIXELS = 40_000_000  # well below Pillow's 89 MP decompression-bomb warning
MAX_BYTES = 50 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
BACKGROUND = (255, 255, 255)  # transparent pixels are composited on white

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# A truncated file must fail in open_image, not later in a page.
ImageFile.LOAD_TRUNCATED_IMAGES = False


class ImageError(UserError):
    """An image that cannot be used; the message says why in one sentence."""


Source = bytes | bytearray | str | Path | BinaryIO


def _read_source(src: Source, max_bytes: int) -> bytes:
    if isinstance(src, bytes | bytearray):
        data = bytes(src)
    elif isinstance(src, str | Path):
        path = Path(src)
        if not path.is_file():
            raise ImageError(f"There is no image file at {path}.")
        if path.stat().st_size > max_bytes:
            raise ImageError(
                f"The file is larger than {max_bytes // 2**20} MB; please use a smaller image."
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"The file {path.name} could not be read ({exc.strerror}).") from exc
    elif hasattr(src, "read"):
        data = src.read(max_bytes + 1)
        if not isinstance(data, bytes | bytearray):
            raise ImageError("The upload could not be read as bytes.")
        data = bytes(data)
    else:
        raise ImageError(f"Cannot read an image from a {type(src).__name__}.")
    if not data:
        raise ImageError("The file is empty.")
    if len(data) > max_bytes:
        raise ImageError(
            f"The file is larger than {max_bytes // 2**20} MB; please use a smaller image."
        )
    return data


def _high_bit_depth_to_l(im: Image.Image) -> Image.Image:
    """Rescale 16/32-bit integer or float greyscale to 8 bits without clipping the range.

    Integer images whose values fit 16 bits are scaled by 255/65535 (so a 16-bit PNG keeps its
    brightness); anything else (negative, wider, or float outside [0, 1]) is stretched min..max.
    """
    a = np.asarray(im, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.any():
        return Image.new("L", im.size, 0)
    a = np.where(finite, a, 0.0)
    lo, hi = float(a.min()), float(a.max())
    if im.mode == "F" and lo >= 0.0 and hi <= 1.0:
        scaled = a * 255.0
    elif im.mode != "F" and lo >= 0 and hi <= 65535:
        scaled = a * (255.0 / 65535.0)
    else:
        scaled = (a - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(a)
    return Image.fromarray(np.rint(scaled).clip(0, 255).astype(np.uint8), mode="L")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB predictably (transparency composited on BACKGROUND)."""
    mode = im.mode
    if mode == "RGB":
        return im
    if mode.startswith("I") or mode == "F":
        return _high_bit_depth_to_l(im).convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


def open_image(
    src: Source, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_BYTES
) -> Image.Image:
    """Decode an untrusted image into an upright RGB PIL image, or raise ImageError.

    Only JPEG, PNG, WebP, GIF (first frame) and BMP are decoded. The pixel count is checked from
    the header before any pixel is decoded; the image is then fully loaded so truncated files fail
    here; EXIF orientation is applied; every mode is converted to RGB.

    Args:
        src: raw bytes, a path, or a binary file-like object.
        max_pixels: refuse images with more pixels than this.
        max_bytes: refuse files larger than this.

    Returns:
        A fully loaded RGB image, independent of the source.

    Raises:
        ImageError: for anything unusable, with a sentence a person understands.
    """
    data = _read_source(src, max_bytes)
    try:
        with warnings.catch_warnings():
            # Pillow warns about big images and odd files; we decide ourselves, so no warning
            # escapes and a decompression-bomb warning becomes a refusal.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as im:
                w, h = im.size
                if w <= 0 or h <= 0:
                    raise ImageError("The image has no pixels (its width or height is 0).")
                if w * h > max_pixels:
                    raise ImageError(
                        f"The image is {w}×{h} = {w * h / 1e6:.0f} megapixels; the limit is "
                        f"{max_pixels / 1e6:.0f} megapixels. Please resize it first."
                    )
                im.seek(0)  # first frame of an animated GIF/WebP
                im.load()
                upright = ImageOps.exif_transpose(im)
                rgb = _to_rgb(upright)
                rgb.load()
                # Detach from the source file object so the caller owns a plain image.
                return rgb.copy() if rgb is im else rgb
    except ImageError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageError(
            "This file is not an image we can read; please use JPEG, PNG, WebP, GIF or BMP."
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(
            f"The image is too large to decode safely (over {max_pixels / 1e6:.0f} megapixels)."
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        raise ImageError(
            "The image file is damaged or truncated and could not be decoded."
        ) from exc
    except MemoryError as exc:
        raise ImageError("The image needs more memory to decode than is available.") from exc
    except Exception as exc:  # noqa: BLE001 - decoders raise odd types on hostile input
        raise ImageError(
            f"The image could not be decoded ({exc.__class__.__name__}); it may be damaged."
        ) from exc


_SAMPLES = {
    "chelsea": "chelsea",  # Chelsea the cat: the default, like the lesson's pet photos
    "coffee": "coffee",
    "astronaut": "astronaut",
    "rocket": "rocket",
    "camera": "camera",
}


@lru_cache(maxsize=1)
def _load_samples() -> tuple[tuple[str, Image.Image], ...]:
    from skimage import data as skdata

    out = []
    for name, fn in _SAMPLES.items():
        arr = getattr(skdata, fn)()
        im = Image.fromarray(arr)
        out.append((name, _to_rgb(im)))
    return tuple(out)


def sample_images() -> dict[str, Image.Image]:
    """The photos that scikit-image ships, as RGB images; "chelsea" (a cat) comes first."""
    return {name: im.copy() for name, im in _load_samples()}


def to_tensor(img: Image.Image) -> torch.Tensor:
    """PIL image -> float tensor in [0, 1].

    Shape:
        (3, H, W)
    """
    arr = np.asarray(_to_rgb(img), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).float().div_(255.0)


def to_image(t: torch.Tensor) -> Image.Image:
    """Float tensor in [0, 1] (values outside are clamped) -> RGB PIL image.

    Shape:
        (3, H, W) or (1, H, W) or (H, W)
    """
    t = t.detach().float().cpu()
    if t.ndim == 2:
        t = t[None]
    if t.shape[0] == 1:
        t = t.expand(3, -1, -1)
    arr = (t.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.ascontiguousarray(arr), mode="RGB")


Stats = Sequence[float] | torch.Tensor


def _stats(t: torch.Tensor, mean: Stats, std: Stats) -> tuple[torch.Tensor, torch.Tensor]:
    shape = (3, 1, 1) if t.ndim == 3 else (1, 3, 1, 1)
    m = torch.as_tensor(mean, dtype=t.dtype, device=t.device).reshape(shape)
    s = torch.as_tensor(std, dtype=t.dtype, device=t.device).reshape(shape)
    return m, s


def normalize(
    t: torch.Tensor, mean: Stats = IMAGENET_MEAN, std: Stats = IMAGENET_STD
) -> torch.Tensor:
    """Subtract the per-channel mean and divide by the std (ImageNet's unless given).

    Shape:
        (3, H, W) or (B, 3, H, W); mean and std 3 numbers each
    """
    m, s = _stats(t, mean, std)
    return (t - m) / s


def denormalize(
    t: torch.Tensor, mean: Stats = IMAGENET_MEAN, std: Stats = IMAGENET_STD
) -> torch.Tensor:
    """Undo `normalize`.

    Shape:
        (3, H, W) or (B, 3, H, W)
    """
    m, s = _stats(t, mean, std)
    return t * s + m


def encode(img: Image.Image, fmt: str = "PNG", quality: int = 85) -> bytes:
    """The image as a file's bytes: PNG for downloads, WebP/JPEG (`quality`) for display.

    Pages and components send small WebP/JPEG at display size; a PNG keeps every pixel.
    """
    buf = io.BytesIO()
    fmt = fmt.upper()
    if fmt == "PNG":
        img.save(buf, "PNG", compress_level=1)  # speed over a few % of size: made per rerun
    elif fmt in ("WEBP", "JPEG"):
        img.convert("RGB").save(buf, fmt, quality=quality)
    else:
        raise ValueError(f"encode writes PNG, WEBP or JPEG, not {fmt!r}")
    return buf.getvalue()


def data_url(img: Image.Image, fmt: str = "WEBP", quality: int = 85) -> str:
    """The image as a `data:` URL, for a custom component to draw without another request."""
    import base64

    mime = {"PNG": "image/png", "WEBP": "image/webp", "JPEG": "image/jpeg"}[fmt.upper()]
    return f"data:{mime};base64," + base64.b64encode(encode(img, fmt, quality)).decode("ascii")


def resize_short(img: Image.Image, size: int, max_long: int | None = None) -> Image.Image:
    """Resize so the short side is `size`, keeping the aspect ratio, with the long side capped.

    The cap (default 4 × size) keeps extreme strips sane: a 1×5000 image asked for size 224 becomes
    896×1 rather than 224×1,120,000.
    """
    if size < 1:
        raise ValueError("The size must be at least one pixel.")
    max_long = max_long or 4 * size
    w, h = img.size
    scale = size / min(w, h)
    scale = min(scale, max_long / max(w, h))
    new = (max(1, round(w * scale)), max(1, round(h * scale)))
    if new == (w, h):
        return img.copy()
    return img.resize(new, Image.Resampling.BICUBIC, reducing_gap=3.0)


def centre_square(img: Image.Image, size: int) -> torch.Tensor:
    """The un-augmented view of a picture, as a validation transform makes it: the short side
    resized (antialiased) to `size`, then the centre square cropped.

    Shape:
        -> (3, size, size) float in [0, 1]
    """
    small = resize_short(img, size)
    left, top = (small.width - size) // 2, (small.height - size) // 2
    return to_tensor(small.crop((left, top, left + size, top + size)))


def preview(img: Image.Image, max_side: int = 512, max_aspect: float = 6.0) -> Image.Image:
    """A copy for display: at most `max_side` px, letterboxed on BACKGROUND to `max_aspect`.

    Browsers (and st.image) scale a picture to the column width; a 3000×1 strip would become
    0 px tall. Letterboxing keeps every preview at least width/max_aspect tall.
    """
    w, h = img.size
    if w > max_aspect * h or h > max_aspect * w:
        cw, ch = max(w, math.ceil(h / max_aspect)), max(h, math.ceil(w / max_aspect))
        canvas = Image.new("RGB", (cw, ch), BACKGROUND)
        canvas.paste(img.convert("RGB"), ((cw - w) // 2, (ch - h) // 2))
        img, (w, h) = canvas, (cw, ch)
    scale = min(1.0, max_side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return (
        img.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0) if scale < 1 else img.copy()
    )

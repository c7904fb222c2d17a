"""The lesson's "a convolution is a matrix multiply": the (out_pixels × in_pixels) matrix that
performs `explorer.convolve.convolve`, which cells share a weight, and the check against F.conv2d.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from explorer.convolve import ConvolveError, _as_chw, _check_kernel, output_size

# Guards against a conv_matrix that would not fit in memory (4M cells = 16 MB of float32).
MAX_MATRIX_CELLS = 1 << 22


@dataclass(frozen=True)
class ConvMatrix:
    """A convolution as one matrix: `matrix @ img.flatten()` is the flattened output.

    Attributes:
        matrix: (out_pixels, in_pixels) weights; in_pixels = C·H·W, out_pixels = H'·W'.
        tying: same shape, int64: the flat index into the kernel that each cell holds (the same
            index means the same, tied, weight), -1 for cells that are always zero.
        out_shape: (H', W'), to reshape the product back into an image.
    """

    matrix: Tensor
    tying: Tensor
    out_shape: tuple[int, int]


def conv_matrix(h: int, w: int, kernel: Tensor, padding: int = 0, stride: int = 1) -> ConvMatrix:
    """The (out_pixels × in_pixels) matrix that performs `convolve` with zeros padding.

    Every row is one output pixel; it holds the kernel's entries at the columns of the input
    pixels under the window, and zeros everywhere else. Zero padding simply drops the entries
    that would fall outside the image.

    Shape:
        kernel (kh, kw) or (C, kh, kw) -> matrix, tying (H'·W', C·H·W).

    Raises:
        ConvolveError: non-finite kernel, a kernel that does not fit, or a matrix too big to show.
    """
    _check_kernel(kernel)
    k = kernel if kernel.ndim == 3 else kernel[None]
    if not k.is_floating_point():
        k = k.float()
    c, kh, kw = k.shape
    oh, ow = output_size(h, w, (kh, kw), padding, stride)
    n_out, n_in = oh * ow, c * h * w
    if n_out * n_in > MAX_MATRIX_CELLS:
        raise ConvolveError(
            f"A {n_out}×{n_in} matrix is too large to build; use a smaller image or kernel."
        )
    dev = k.device

    def ar(n: int) -> Tensor:
        return torch.arange(n, device=dev)

    # Broadcast over (out row, out col, channel, kernel row, kernel col).
    r = (ar(oh) * stride - padding)[:, None, None, None, None] + ar(kh)[None, None, None, :, None]
    q = (ar(ow) * stride - padding)[None, :, None, None, None] + ar(kw)[None, None, None, None, :]
    ch = ar(c)[None, None, :, None, None]
    full = (oh, ow, c, kh, kw)
    valid = ((r >= 0) & (r < h) & (q >= 0) & (q < w)).expand(full)
    out_idx = (ar(oh)[:, None] * ow + ar(ow)[None, :])[..., None, None, None]
    in_idx = ch * h * w + r.clamp(0, h - 1) * w + q.clamp(0, w - 1)
    k_idx = ar(c * kh * kw).view(1, 1, c, kh, kw)
    out_idx, in_idx, k_idx = (t.expand(full)[valid] for t in (out_idx, in_idx, k_idx))
    tying = torch.full((n_out, n_in), -1, dtype=torch.int64, device=dev)
    tying[out_idx, in_idx] = k_idx
    matrix = torch.zeros(n_out, n_in, dtype=k.dtype, device=dev)
    matrix[out_idx, in_idx] = k.flatten()[k_idx]
    return ConvMatrix(matrix, tying, (oh, ow))


@dataclass(frozen=True)
class MatmulCheck:
    """A convolution done as a matrix multiply, next to `F.conv2d` on the same input.

    Attributes:
        cm: the matrix and its tying map (`conv_matrix`).
        product: (cm.matrix @ img.flatten()) reshaped to the output image.
        reference: `F.conv2d` on the same image and kernel (zeros padding).
        equal: whether the two agree (to float rounding).
    """

    cm: ConvMatrix
    product: Tensor
    reference: Tensor
    equal: bool


def conv_as_matmul(img: Tensor, kernel: Tensor, padding: int = 0, stride: int = 1) -> MatmulCheck:
    """The lesson's "a convolution is a matrix multiply", with its check against `F.conv2d`.

    Shape:
        img (H, W) or (C, H, W), kernel (kh, kw) or (C, kh, kw) -> product, reference (H', W').
    """
    x, k = _as_chw(img, kernel)
    cm = conv_matrix(x.shape[-2], x.shape[-1], k, padding, stride)
    product = (cm.matrix @ x.flatten()).view(cm.out_shape)
    reference = F.conv2d(x[None], k[None], stride=stride, padding=padding)[0, 0]
    return MatmulCheck(cm, product, reference, bool(torch.allclose(product, reference)))


def matmul_example(size: int, k: int, seed: int) -> tuple[Tensor, Tensor]:
    """A small image of digits 0–9 (seeded) and a kernel numbered 1..k², easy to multiply by eye.

    Shape:
        -> image (size, size), kernel (k, k), both float32.
    """
    g = torch.Generator().manual_seed(seed)
    img = torch.randint(0, 10, (size, size), generator=g).float()
    return img, torch.arange(1, k * k + 1, dtype=torch.float32).view(k, k)

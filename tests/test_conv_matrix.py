"""explorer.conv_matrix against F.conv2d and hand-built matrices: a convolution is a matrix
multiply."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from explorer import conv_matrix as cmx

from .test_convolve import _conv_oracle, _gen


@pytest.mark.parametrize(
    ("h", "w", "kshape", "padding", "stride"),
    [
        (3, 3, (2, 2), 0, 1),
        (4, 4, (3, 3), 1, 1),
        (5, 6, (3, 3), 1, 2),
        (4, 5, (3, 2, 2), 0, 1),
        (6, 4, (2, 3, 3), 2, 3),
    ],
)
def test_conv_matrix_times_image_is_convolution(h, w, kshape, padding, stride):
    g = _gen(h * w)
    kernel = torch.randn(kshape, generator=g, dtype=torch.float64)
    c = kshape[0] if len(kshape) == 3 else 1
    img = torch.rand((c, h, w) if len(kshape) == 3 else (h, w), generator=g, dtype=torch.float64)
    cm = cmx.conv_matrix(h, w, kernel, padding, stride)
    want = _conv_oracle(img, kernel, padding, "zeros", stride)
    assert cm.out_shape == tuple(want.shape)
    assert cm.matrix.shape == (want.numel(), c * h * w)
    torch.testing.assert_close((cm.matrix @ img.flatten()).view(cm.out_shape), want)
    # The tying map names the kernel entry in every non-structural cell, and nothing else.
    tied = cm.tying >= 0
    torch.testing.assert_close(cm.matrix[tied], kernel.flatten()[cm.tying[tied]])
    assert bool((cm.matrix[~tied] == 0).all())
    for row in cm.tying:
        used = row[row >= 0]
        assert used.unique().numel() == used.numel()  # one weight per input pixel per output


def test_conv_matrix_lesson_layout_by_hand():
    # 3×3 image, 2×2 kernel (weights 0..3 = α β γ δ): output (0,0) reads pixels 0 1 3 4, etc.
    cm = cmx.conv_matrix(3, 3, torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    want = torch.tensor(
        [
            [0, 1, -1, 2, 3, -1, -1, -1, -1],
            [-1, 0, 1, -1, 2, 3, -1, -1, -1],
            [-1, -1, -1, 0, 1, -1, 2, 3, -1],
            [-1, -1, -1, -1, 0, 1, -1, 2, 3],
        ]
    )
    assert torch.equal(cm.tying, want)


def test_conv_matrix_too_large_refused():
    with pytest.raises(ValueError, match="too large"):
        cmx.conv_matrix(200, 200, torch.ones(3, 3))


def test_conv_as_matmul_agrees_with_conv2d():
    img = torch.randint(0, 10, (4, 4), generator=_gen(11)).double()
    k = torch.tensor([[1.0, -2.0, 0.5], [0.0, 3.0, 1.0], [2.0, 1.0, -1.0]], dtype=torch.float64)
    check = cmx.conv_as_matmul(img, k, padding=1)
    assert check.cm.matrix.shape == (16, 16)
    assert check.equal
    torch.testing.assert_close(check.product, _conv_oracle(img, k, 1, "zeros", 1))
    torch.testing.assert_close(check.reference, _conv_oracle(img, k, 1, "zeros", 1))
    rgb = torch.rand(3, 3, 3, generator=_gen(12), dtype=torch.float64)
    check = cmx.conv_as_matmul(rgb, k[:2, :2], stride=1)
    assert check.cm.matrix.shape == (4, 27)
    torch.testing.assert_close(
        check.product, F.conv2d(rgb[None], k[:2, :2].expand(1, 3, 2, 2))[0, 0]
    )


def test_matmul_example():
    img, k = cmx.matmul_example(4, 3, seed=5)
    again, _ = cmx.matmul_example(4, 3, seed=5)
    assert torch.equal(img, again) and img.shape == (4, 4)
    assert bool(((img >= 0) & (img <= 9) & (img == img.round())).all())
    assert k.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]

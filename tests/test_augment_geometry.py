"""Geometry of explorer.augment against torch's own ops and hand-computed oracles: flips, the
dihedral group, rotation and zoom, squish, homographies and warps, and the padding modes."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from explorer import augment as A
from tests.test_augment import TOL, _gen, _img

# the picture's corners in grid units (x, y), in fastai's order: top-left, bottom-left, top-right,
# bottom-right
CORNERS = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)


# ------------------------------------------------------------------ geometry vs torch oracles


def test_flip_is_an_exact_mirror():
    img = _img(h=9, w=13)
    p = A.AugParams.identity(1).set(flip=True)
    # a 9×13 picture: the centred 9×9 square, mirrored
    torch.testing.assert_close(A.apply(img, p, 9, "zeros")[0], img[:, :, 2:11].flip(-1), **TOL)


DIHEDRAL_ORACLES = {
    0: lambda x: x,
    1: lambda x: x.flip(-1),
    2: lambda x: x.flip(-2),
    3: lambda x: torch.rot90(x, 2, (-2, -1)),
    4: lambda x: x.transpose(-1, -2),
    5: lambda x: torch.rot90(x, 1, (-2, -1)),
    6: lambda x: torch.rot90(x, -1, (-2, -1)),
    7: lambda x: x.flip(-1).flip(-2).transpose(-1, -2),  # anti-transpose
}


@pytest.mark.parametrize("k", range(8))
def test_each_dihedral_case_matches_rot90_and_flip(k):
    img = _img(h=11, w=11)
    p = A.AugParams.identity(1).set(dihedral=k)
    torch.testing.assert_close(A.apply(img, p, 11, "zeros")[0], DIHEDRAL_ORACLES[k](img), **TOL)


def test_dihedral_cases_are_eight_distinct_pictures():
    img = _img(h=6, w=6)
    outs = A.apply(img, A.AugParams.identity(8).set(dihedral=torch.arange(8)), 6, "zeros")
    dist = torch.cdist(outs.flatten(1), outs.flatten(1))
    assert (dist + torch.eye(8) > 1e-3).all()


@pytest.mark.parametrize("angle,k", [(90, 1), (-90, -1), (180, 2), (270, -1), (360, 0)])
def test_quarter_turns_equal_rot90(angle, k):
    img = _img(h=10, w=10)
    out = A.affine_resample(img, angle, 1.0, 10, "zeros")
    torch.testing.assert_close(out, torch.rot90(img, k, (-2, -1)), **TOL)


def test_rotation_and_zoom_match_a_hand_built_affine_grid():
    img = _img(h=16, w=16)
    angle, zoom = 30.0, 1.4
    a = math.radians(angle)
    theta = torch.tensor(
        [
            [math.cos(a) / zoom, -math.sin(a) / zoom, 0.0],
            [math.sin(a) / zoom, math.cos(a) / zoom, 0.0],
        ]
    )
    grid = F.affine_grid(theta[None], (1, 3, 16, 16), align_corners=True)
    expected = F.grid_sample(img[None], grid, padding_mode="border", align_corners=True)[0]
    torch.testing.assert_close(A.affine_resample(img, angle, zoom, 16, "border"), expected, **TOL)


def test_zoom_focus_corner_keeps_that_corner():
    img = _img(h=9, w=9)
    p = A.AugParams.identity(1).set(zoom=2.0, zoom_row=0.0, zoom_col=0.0)
    out = A.apply(img, p, 9, "zeros")[0]
    # ×2 about the top-left corner: output pixel 2j reads input pixel j, along both axes
    torch.testing.assert_close(out[:, ::2, ::2], img[:, :5, :5], **TOL)


def test_squish_below_one_widens_horizontally_only():
    img = _img(h=9, w=9)
    p = A.AugParams.identity(1).set(squish=0.5)
    out = A.apply(img, p, 9, "zeros")[0]
    # x is scaled by 0.5 about the centre: output column 2j samples input column 2 + j (exactly)
    torch.testing.assert_close(out[:, :, 0::2], img[:, :, 2:7], **TOL)
    q = A.AugParams.identity(1).set(squish=2.0)
    out = A.apply(img, q, 9, "zeros")[0]
    torch.testing.assert_close(out[:, 0::2, :], img[:, 2:7, :], **TOL)


def test_homography_maps_target_points_to_original_points():
    targ = CORNERS + torch.rand(5, 4, 2, generator=_gen(4), dtype=torch.float64) * 0.6 - 0.3
    h = A.homography(CORNERS, targ)
    pts = torch.cat([targ, torch.ones(5, 4, 1, dtype=torch.float64)], -1) @ h.transpose(1, 2)
    torch.testing.assert_close(pts[..., :2] / pts[..., 2:], CORNERS.expand(5, 4, 2))
    assert torch.all(h[:, 2, 2] == 1)


def test_symmetric_warp_matches_fastai_corner_formula():
    m = torch.tensor([[0.1, -0.2, 0.3, -0.15]], dtype=torch.float64)
    p = A.AugParams.identity(1).set(warp=m)
    mat = A.square_matrices(p)[0]
    m0, m1, m2, m3 = m[0].tolist()
    # fastai v1's symmetric_warp target corners (x, y) for corners (-1,-1), (-1,1), (1,-1), (1,1)
    targ = [[-1 - m3, -1 - m1], [-1 - m2, 1 + m1], [1 + m3, -1 - m0], [1 + m2, 1 + m0]]
    for t, o in zip(targ, CORNERS.tolist(), strict=True):
        v = mat @ torch.tensor([t[0], t[1], 1.0], dtype=torch.float64)
        torch.testing.assert_close((v[:2] / v[2]).tolist(), o)


def _corner_moves(mat: torch.Tensor) -> torch.Tensor:
    """How a warp moves the picture's corners: the output points that sample each corner (through
    the inverse of the output -> input map), minus the corners. fastai defines warps this way."""
    pts = torch.cat([CORNERS, torch.ones(4, 1, dtype=torch.float64)], 1) @ torch.linalg.inv(mat).T
    return pts[:, :2] / pts[:, 2:] - CORNERS


@pytest.mark.parametrize("field", ["tilt", "skew"])
def test_tilt_and_skew_directions_move_one_edge_or_corner(field):
    n_dirs = 4 if field == "tilt" else 8
    seen = set()
    for d in range(n_dirs):
        p = A.AugParams.identity(1).set(**{field: 0.25, f"{field}_dir": d})
        moves = _corner_moves(A.square_matrices(p)[0])
        moved = moves.abs() > 1e-9
        # tilt: two corners each move one coordinate; skew: one corner, one coordinate
        assert moved.sum() == (2 if field == "tilt" else 1)
        torch.testing.assert_close(
            moves[moved].abs(), torch.full((int(moved.sum()),), 0.25, dtype=torch.float64)
        )
        # a positive magnitude pushes outwards: the move has the sign of the corner's coordinate
        assert torch.equal(torch.sign(moves[moved]), torch.sign(CORNERS[moved]))
        corners, axes = moved.nonzero(as_tuple=True)
        if field == "tilt":  # both along one axis, on one edge: they share the other coordinate
            assert axes[0] == axes[1]
            other = 1 - int(axes[0])
            assert CORNERS[corners[0], other] == CORNERS[corners[1], other]
        seen.add(tuple(zip(corners.tolist(), axes.tolist(), strict=True)))
    assert len(seen) == n_dirs  # every direction is a different move: all 4 edges, 8 coordinates
    # a negative magnitude is the opposite move
    p = A.AugParams.identity(1).set(**{field: -0.25, f"{field}_dir": 1})
    q = A.AugParams.identity(1).set(**{field: 0.25, f"{field}_dir": 1})
    torch.testing.assert_close(
        _corner_moves(A.square_matrices(p)[0]), -_corner_moves(A.square_matrices(q)[0])
    )


# ------------------------------------------------------------------ padding modes


@pytest.mark.parametrize("mode", A.PADDING_MODES)
def test_padding_matches_f_pad_with_the_mapped_mode(mode):
    img = _img(h=8, w=8)
    p = A.AugParams.identity(1).set(pad=3.0)
    out = A.apply(img, p, 14, mode)[0]
    expected = F.pad(img[None], (3, 3, 3, 3), mode=A.pad_mode(mode))[0]
    torch.testing.assert_close(out, expected, **TOL)


def test_padding_border_pixels_follow_their_definitions():
    img = _img(h=8, w=8)
    p = A.AugParams.identity(1).set(pad=2.0)
    zeros = A.apply(img, p, 12, "zeros")[0]
    # 0 up to the float32 rounding of grid coordinates (they land within ~1e-7 px of a pixel)
    assert zeros[:, :2, :].abs().max() < 1e-6 and zeros[:, :, -2:].abs().max() < 1e-6
    border = A.apply(img, p, 12, "border")[0]
    torch.testing.assert_close(border[:, 0, 2:10], img[:, 0, :], **TOL)  # edge value repeated
    torch.testing.assert_close(border[:, 1, 2:10], img[:, 0, :], **TOL)
    refl = A.apply(img, p, 12, "reflection")[0]
    torch.testing.assert_close(refl[:, 1, 2:10], img[:, 1, :], **TOL)  # mirror about row 0
    torch.testing.assert_close(refl[:, 0, 2:10], img[:, 2, :], **TOL)


def test_rotation_corners_get_the_padding():
    img = _img(h=10, w=10) * 0.5 + 0.25  # no pixel is 0
    out = A.affine_resample(img, 45.0, 1.0, 10, "zeros")
    assert torch.all(out[:, 0, 0] == 0) and torch.all(out[:, 5, 5] > 0)


def test_padding_mode_names_map_to_f_pad():
    assert A.pad_mode("zeros") == "constant"
    assert A.pad_mode("border") == "replicate"
    assert A.pad_mode("reflection") == "reflect"
    with pytest.raises(ValueError, match="Padding mode"):
        A.pad_mode("wrap")
    with pytest.raises(ValueError):
        A.AugSettings(padding_mode="reflect")


def _projected_by_hand(mats: torch.Tensor, lin: torch.Tensor) -> torch.Tensor:
    """Every grid point through each homography, divided and clamped like the padding needs."""
    yy, xx = torch.meshgrid(lin, lin, indexing="ij")
    pts = torch.stack([xx, yy, torch.ones_like(xx)], -1).to(torch.float64)  # (h, w, 3)
    out = torch.einsum("nij,hwj->nhwi", mats.to(torch.float64), pts)
    return (out[..., :2] / out[..., 2:].clamp(min=1e-6)).clamp(-1e4, 1e4)


def test_projection_matches_the_hand_formula_away_from_and_at_the_horizon():
    lin = torch.linspace(-1, 1, 7)
    warp = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    warp[:, 2, 0] = torch.tensor([0.3, -0.2])  # gentle perspective: z stays near 1
    got = A.project(warp, lin, lin, True).to(torch.float64)
    torch.testing.assert_close(got, _projected_by_hand(warp, lin), rtol=1e-5, atol=1e-5)
    edge = warp.clone()
    edge[0, 2, 0] = 2.0  # z = 1 + 2x: zero at x = -0.5, negative left of it
    got = A.project(edge, lin, lin, True).to(torch.float64)
    want = _projected_by_hand(edge, lin)
    assert want.abs().max() == 1e4  # points behind the horizon are sent far into the padding
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)

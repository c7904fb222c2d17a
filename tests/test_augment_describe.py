"""explorer.augment.describe and the corner/edge names in geometry: the names are checked against
the corner moves the warps really make (through the inverse matrix, as fastai defines warps), and
a tile's value rows against hand-set parameters."""

from __future__ import annotations

import pytest
import torch

from explorer import augment as A

# grid units (x, y): x = -1 is the left column, y = -1 the top row (grid_sample's convention)
CORNERS = torch.tensor([[-1.0, -1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, 1.0]], dtype=torch.float64)


def _moves(p: A.AugParams) -> torch.Tensor:
    mat = A.square_matrices(p)[0]
    pts = torch.cat([CORNERS, torch.ones(4, 1, dtype=torch.float64)], 1) @ torch.linalg.inv(mat).T
    return pts[:, :2] / pts[:, 2:] - CORNERS


def _where(x: float, y: float) -> str:
    return ("top" if y < 0 else "bottom") + "-" + ("left" if x < 0 else "right")


def test_corner_names_follow_the_corner_order_of_perspective_moves():
    # perspective moves corner i alone: the name at i is where that corner sits
    for i, name in enumerate(A.CORNER_NAMES):
        corner = torch.zeros(1, 4, 2, dtype=torch.float64)
        corner[0, i, 0] = -0.2 if "left" in name else 0.2  # outwards
        moved = _moves(A.AugParams.identity(1).set(perspective=corner)).abs().sum(1) > 1e-9
        (k,) = moved.nonzero()[:, 0].tolist()
        assert _where(*CORNERS[k].tolist()) == name
    assert A.CORNER_SHORT == ("tl", "bl", "tr", "br")


@pytest.mark.parametrize("d", range(4))
def test_edge_names_are_the_edge_tilt_moves(d):
    moves = _moves(A.AugParams.identity(1).set(tilt=0.3, tilt_dir=d))
    moved = CORNERS[moves.abs().sum(1) > 1e-9]
    assert len(moved) == 2
    edge = A.EDGE_NAMES[d]
    axis, sign = {"left": (0, -1), "right": (0, 1), "top": (1, -1), "bottom": (1, 1)}[edge]
    assert (moved[:, axis] == sign).all()  # both moved corners lie on the named edge
    assert sorted(A.EDGE_NAMES) == ["bottom", "left", "right", "top"]


@pytest.mark.parametrize("d", range(8))
def test_skew_names_are_the_coordinate_skew_pushes(d):
    moves = _moves(A.AugParams.identity(1).set(skew=0.3, skew_dir=d))
    (k, axis), *rest = (moves.abs() > 1e-9).nonzero().tolist()
    assert not rest
    assert A.SKEW_PULLS[d] == f"{_where(*CORNERS[k].tolist())} {'xy'[axis]}"


def test_tile_rows_of_the_identity_are_all_unchanged():
    rows = A.tile_rows(A.AugParams.identity(1), 0)
    assert [r[0] for r in rows][:3] == ["flip ↔", "dihedral", "rotate"]
    assert not any(changed for _, _, changed in rows)
    by = {n: v for n, v, _ in rows}
    assert by["rotate"] == "+0.00°" and by["cutout"] == "off" and by["perspective"].startswith("0")


def test_tile_rows_name_the_edge_corner_and_values_set():
    p = A.AugParams.identity(1).set(angle=-12.5, tilt=0.2, tilt_dir=2, skew=-0.1, skew_dir=5)
    by = {n: (v, c) for n, v, c in A.tile_rows(p, 0)}
    assert by["rotate"] == ("-12.50°", True)
    assert by["tilt"] == ("+0.200 · bottom edge", True)
    assert by["skew"] == ("-0.100 · top-right y", True)
    assert by["zoom"][1] is False and by["brightness"] == ("0.500", False)


def test_inert_controls_name_only_details_and_say_why():
    v = A.AugSettings.off().to_dict() | {"zoom_random": True}
    inert = A.inert_controls(v, photo_square=True)
    assert inert["flip_vert"] == "Turn on flip first."
    assert inert["p_affine"] == "Rotate, zoom and warp are all off."
    assert "rand_crop" in inert and "max_rotate" not in inert  # magnitudes are never locked
    on = A.AugSettings.lesson(flip_vert=True).to_dict() | {"zoom_random": False}
    inert = A.inert_controls(on, photo_square=False)
    assert "p_dihedral" not in inert and inert["p_flip"].startswith("With vertical flips")
    assert "zoom_row" not in inert and "rand_crop" not in inert

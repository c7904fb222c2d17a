"""Is a heatmap faithful to the model? Deletion and insertion curves, Average Drop / Increase in
Confidence, and the pointing game on shapes, whose object box is known.

Every masked image of one measurement goes through the model in batches, under inference mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from explorer.heatmap.hooks import evaluating
from explorer.heatmap.methods import CAM_METHODS, EPS, inference_copy, method_map, score_cam

STEPS = 12  # at most 13 points on each curve (see step_counts)
BATCH = 32  # masked images per forward pass
BLUR_KERNEL, BLUR_SIGMA = 11, 5.0  # the insertion curve's start: the image blurred (as RISE does)


@dataclass
class Curve:
    """Class probability as pixels are removed (deletion) or revealed (insertion) in map order."""

    fractions: list[float]  # share of the pixels removed / revealed, 0 .. 1 (step_counts)
    probs: list[float]  # the class's softmax probability after each step
    auc: float  # area under the curve (trapezoid over the fractions)


@dataclass
class Faithfulness:
    """Every number the faithfulness panel shows for one map of one image."""

    prob: float  # the class's probability on the whole image
    masked_prob: float  # ... on the image multiplied by the map (scaled to [0, 1])
    drop: float  # Average Drop for this image: max(0, prob - masked_prob) / prob
    increase: bool  # Increase in Confidence: masked_prob > prob
    deletion: Curve
    insertion: Curve


def upsample(cam: Tensor, size: tuple[int, int]) -> Tensor:
    """A map stretched bilinearly over the input (align_corners=False, as the overlay draws it).

    Shape:
        (h, w) -> size
    """
    return F.interpolate(cam[None, None].float(), size=size, mode="bilinear", align_corners=False)[
        0, 0
    ]


def normalise(cam: Tensor) -> Tensor:
    """(m - min) / (max - min + EPS): torchcam's scaling of a map to [0, 1].

    Shape:
        (h, w) -> (h, w)
    """
    shifted = cam.float() - cam.min()
    return shifted / (shifted.max() + EPS)


def step_counts(n: int, steps: int = STEPS) -> list[int]:
    """How many pixels are taken at each point of a curve: 0, c, 2c, ... and finally all n, with
    c = ceil(n / steps) (torchcam's DeletionInsertionMetric, so at most steps + 1 points)."""
    if n < 1 or steps < 1:
        raise ValueError(f"Need at least one pixel and one step, got n={n}, steps={steps}.")
    step = -(-n // steps)
    return [*range(0, n, step), n]


def step_masks(saliency: Tensor, steps: int = STEPS) -> tuple[Tensor, list[float]]:
    """Which pixels are taken at each point of a curve: the map's top `step_counts` pixels.

    Ties keep pixel order (a stable sort), so an all-equal map takes pixels row by row.

    Returns:
        (masks, fractions): masks[k] marks the pixels taken at point k; fractions[k] their share.

    Shape:
        (H, W) -> masks (P, H, W) bool, P = len(step_counts(H * W, steps))
    """
    h, w = saliency.shape
    n = h * w
    order = torch.argsort(saliency.flatten().float(), descending=True, stable=True)
    rank = torch.empty(n, dtype=torch.long, device=saliency.device)
    rank[order] = torch.arange(n, device=saliency.device)
    counts = step_counts(n, steps)
    taken = rank[None, :] < torch.tensor(counts, device=saliency.device)[:, None]
    return taken.view(len(counts), h, w), [c / n for c in counts]


def area(probs: Sequence[float], fractions: Sequence[float] | None = None) -> float:
    """Area under a curve by the trapezoid rule over `fractions` (default: equal steps on 0..1)."""
    p = list(probs)
    if len(p) < 2:
        raise ValueError("A curve needs at least two points.")
    xs = list(fractions) if fractions is not None else [k / (len(p) - 1) for k in range(len(p))]
    pairs = zip(p[:-1], p[1:], xs[:-1], xs[1:], strict=True)
    return float(sum((a + b) / 2 * (x1 - x0) for a, b, x0, x1 in pairs))


def blurred(x: Tensor) -> Tensor:
    """The insertion curve's starting image: x blurred with a Gaussian (kernel 11, sigma 5).

    Shape:
        (1, 3, H, W) -> (1, 3, H, W)
    """
    from torchvision.transforms.functional import gaussian_blur

    k = min(BLUR_KERNEL, 2 * (min(x.shape[-2:]) // 2) - 1)
    return gaussian_blur(x, [k, k], [BLUR_SIGMA, BLUR_SIGMA])


def class_probs(
    model: nn.Module, images: Tensor, class_idx: int, batch_size: int = BATCH
) -> Tensor:
    """The class's softmax probability for each image, in batches under inference mode, through
    `inference_copy` (BatchNorm folded, channels-last: the same function, fewer passes over memory).

    Shape:
        images: (N, 3, H, W) -> (N,)
    """
    device = next(model.parameters()).device
    out = []
    with evaluating(model, no_grad_params=False):
        net = inference_copy(model)
    with torch.inference_mode():
        for chunk in images.split(batch_size):
            xb = chunk.to(device).contiguous(memory_format=torch.channels_last)
            out.append(net(xb).float().softmax(-1)[:, class_idx].cpu())
    return torch.cat(out)


def faithfulness(
    model: nn.Module,
    x: Tensor,
    cam: Tensor,
    class_idx: int,
    steps: int = STEPS,
    deletion_base: Tensor | None = None,
    insertion_base: Tensor | None = None,
    batch_size: int = BATCH,
) -> Faithfulness:
    """Deletion and insertion curves and Average Drop / Increase in Confidence for one map.

    Deletion replaces the map's top pixels with `deletion_base` (default 0: the mean colour of the
    normalised image); insertion starts from `insertion_base` (default the image blurred) and
    reveals the top pixels. A faithful map makes the deletion curve fall fast (small area) and the
    insertion curve rise fast (large area). Average Drop and Increase in Confidence (Chattopadhyay
    et al.; torchcam's ClassificationMetric) compare the class's probability on the image with it
    on the image × the map, the map normalised and upsampled bilinearly.

    Args:
        model: the network.
        x: the normalised image.
        cam: the map at any resolution (upsampled to the image).
        class_idx: the class whose probability is followed.
        steps: points on each curve, minus one.
        deletion_base, insertion_base: what removed / not yet revealed pixels show.
        batch_size: masked images per forward pass.

    Shape:
        x: (1, 3, H, W), cam: (h, w), bases: (1, 3, H, W)
    """
    x = x.detach().float().cpu()
    size = (int(x.shape[-2]), int(x.shape[-1]))
    saliency = upsample(cam.detach().cpu(), size)
    masks, fractions = step_masks(saliency, steps)
    masks = masks[:, None]  # (P, 1, H, W)
    last = len(fractions) - 1
    d_base = torch.zeros_like(x) if deletion_base is None else deletion_base.float().cpu()
    i_base = blurred(x) if insertion_base is None else insertion_base.float().cpu()
    deleted = torch.where(masks, d_base, x)
    inserted = torch.where(masks, x, i_base)
    scaled = x * upsample(normalise(cam.detach().cpu()), size)
    # One batched pass: the image itself, both curves but their end points equal to x, x × map.
    images = torch.cat([x, deleted[1:], inserted[:-1], scaled])
    p = class_probs(model, images, class_idx, batch_size)
    prob, masked = float(p[0]), float(p[-1])
    del_probs = [prob, *p[1 : last + 1].tolist()]
    ins_probs = [*p[last + 1 : 2 * last + 1].tolist(), prob]
    return Faithfulness(
        prob=prob,
        masked_prob=masked,
        drop=max(0.0, prob - masked) / prob if prob > 0 else 0.0,
        increase=masked > prob,
        deletion=Curve(fractions, del_probs, area(del_probs, fractions)),
        insertion=Curve(fractions, ins_probs, area(ins_probs, fractions)),
    )


def pointing_hit(cam: Tensor, box: Sequence[float], size: tuple[int, int], tol: float = 0) -> bool:
    """The pointing game (Zhang et al.): does the map's peak, stretched over the image, land in
    the object's box (x0, y0, x1, y1 in pixels, x1/y1 exclusive), grown by `tol` pixels?

    Shape:
        cam: (h, w)
    """
    up = upsample(cam.detach().cpu(), size)
    flat = int(torch.argmax(up.flatten()))  # the first peak in row order
    row, col = divmod(flat, size[1])
    x0, y0, x1, y1 = (float(v) for v in box)
    cx, cy = col + 0.5, row + 0.5  # pixel centre
    return x0 - tol <= cx < x1 + tol and y0 - tol <= cy < y1 + tol


@dataclass
class MethodScore:
    """One method's faithfulness over a set of images (means) and its pointing-game hits."""

    method: str
    hits: int = 0  # pointing-game hits
    n: int = 0  # images scored
    per_class: dict[str, list[int]] = field(default_factory=dict)  # class -> [hits, n]
    deletion: float = 0.0  # mean deletion AUC (lower is more faithful)
    insertion: float = 0.0  # mean insertion AUC (higher is more faithful)
    drop: float = 0.0  # Average Drop, % (lower is better)
    increase: float = 0.0  # Increase in Confidence, % (higher is better)

    @property
    def pointing(self) -> float:
        return self.hits / self.n if self.n else 0.0


def _method_maps(
    model: nn.Module,
    x: Tensor,
    layer: str,
    k: int,
    methods: Sequence[str],
    dtype: torch.dtype | None = None,
) -> dict[str, Tensor]:
    """Every method's map of one image for class k from one capture (Score-CAM adds its passes)."""
    from explorer.heatmap.maps import capture

    c = capture(model, x, layer, k)
    out = {}
    for m in methods:
        if m == "scorecam":
            out[m] = score_cam(model, x, c.acts, k, dtype=dtype).cpu()
        elif m == "lesson":
            out[m] = (c.acts * c.grads.mean(dim=(1, 2))[:, None, None]).mean(0).cpu()
        else:
            out[m] = method_map(c.acts, c.grads, m).cpu()
    return out


def compare_methods(
    model: nn.Module,
    images: Tensor,
    labels: Sequence[int],
    layer: str,
    classes: Sequence[str],
    boxes: Tensor | None = None,
    methods: Sequence[str] = CAM_METHODS,
    steps: int = STEPS,
    dtype: torch.dtype | None = None,
) -> list[MethodScore]:
    """Every method scored on the same images, each explained for its true class.

    Args:
        model: the network.
        images: normalised images.
        labels: each image's true class.
        layer: the hooked layer.
        classes: class names (for the per-class pointing game).
        boxes: each image's object box in pixels (x0, y0, x1, y1); None skips the pointing game.
        methods: CAM methods (and "lesson") to compare.
        steps: points on each faithfulness curve, minus one.
        dtype: Score-CAM's masked passes under autocast to this dtype (None: full precision).

    Returns:
        One MethodScore per method, in `methods` order.

    Shape:
        images: (N, 3, H, W), boxes: (N, 4)
    """
    scores = {m: MethodScore(m) for m in methods}
    size = (int(images.shape[-2]), int(images.shape[-1]))
    for i in range(images.shape[0]):
        x, k = images[i : i + 1], int(labels[i])
        for m, cam in _method_maps(model, x, layer, k, methods, dtype).items():
            s = scores[m]
            f = faithfulness(model, x, cam, k, steps)
            s.n += 1
            s.deletion += f.deletion.auc
            s.insertion += f.insertion.auc
            s.drop += 100 * f.drop
            s.increase += 100 * float(f.increase)
            if boxes is not None:
                hit = pointing_hit(cam, boxes[i].tolist(), size)
                s.hits += int(hit)
                tally = s.per_class.setdefault(str(classes[k]), [0, 0])
                tally[0] += int(hit)
                tally[1] += 1
    for s in scores.values():
        if s.n:
            s.deletion, s.insertion = s.deletion / s.n, s.insertion / s.n
            s.drop, s.increase = s.drop / s.n, s.increase / s.n
    return [scores[m] for m in methods]


def most_faithful(rows: Sequence[MethodScore], pointing: bool) -> str:
    """The method to trust on this model: the best pointing game (when the box is known), then the
    largest insertion AUC minus deletion AUC."""
    if not rows:
        raise ValueError("No methods were scored.")

    def key(s: MethodScore) -> tuple[float, float]:
        return (s.pointing if pointing else 0.0, s.insertion - s.deletion)

    return max(rows, key=key).method


def shapes_batch(
    size: int, mean: Sequence[float], std: Sequence[float], per_class: int = 1, seed: int = 77
) -> tuple[Tensor, list[int], Tensor, list[str]]:
    """Fresh shapes (not a run's: another seed), `per_class` of each of the five classes, as
    normalised images with their labels, object boxes and the class names.

    Shape:
        -> images (5 · per_class, 3, size, size), boxes (5 · per_class, 4)
    """
    from explorer.images import normalize
    from explorer.shapes import SHAPE_CLASSES, make_shapes

    sd = make_shapes(len(SHAPE_CLASSES) * per_class, size=size, seed=seed)
    x = normalize(sd.images.float() / 255, mean, std)
    return x, sd.labels.tolist(), sd.boxes, list(sd.classes)


def score_rows(rows: Sequence[MethodScore], pointing: bool) -> list[dict[str, object]]:
    """The comparison table's rows: one per method, numbers rounded for reading."""
    out: list[dict[str, object]] = []
    for s in rows:
        row: dict[str, object] = {"method": s.method}
        if pointing:
            row["pointing game"] = f"{s.hits}/{s.n}"
            for name, (hits, n) in s.per_class.items():
                row[name] = f"{hits}/{n}"
        row |= {
            "deletion area ↓": round(s.deletion, 3),
            "insertion area ↑": round(s.insertion, 3),
            "Average Drop % ↓": round(s.drop, 1),
            "Increase in Confidence % ↑": round(s.increase, 1),
        }
        out.append(row)
    return out

"""The CAM family (explorer.heatmap.methods) against torchcam and against hand-written formulas on
gradients taken by plain autograd, on a seeded resnet18 built with weights=None."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torchcam import methods as tc

from explorer import heatmap as hm
from explorer import models

LAYER = "0.6"  # layer3: 256 channels of 4x4 at 64 px
SMALL = "0.5"  # layer2: 128 channels of 8x8, so Score-CAM needs half the passes


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)  # the head's dropout runs during the statistics passes
    model = models.create_cnn("resnet18", 5, seed=0)
    # A few training-mode passes give BatchNorm real statistics, so the maps are not degenerate.
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 64, 64, generator=g))
    return model.eval()


@pytest.fixture(scope="module")
def x():
    return torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))


def autograd_acts_grads(model, x, layer, k):
    """The layer's output and d logit_k / d output by a plain forward with every layer recorded."""
    store = {}
    handle = hm.find_layer(model, layer).register_forward_hook(
        lambda m, i, o: store.__setitem__("a", o)
    )
    try:
        out = model(x.clone().requires_grad_(True))
        (g,) = torch.autograd.grad(out[0, k], store["a"])
    finally:
        handle.remove()
    return store["a"][0].detach().double(), g[0].double(), out[0].detach()


def close(ours, ref, tol=1e-4):
    ours, ref = ours.double(), ref.double()
    assert ours.shape == ref.shape
    scale = float(ref.abs().max()) or 1.0
    assert float((ours - ref).abs().max()) <= tol * scale, (ours, ref)


@pytest.mark.parametrize(
    ("method", "cls"),
    [("gradcam", tc.GradCAM), ("xgradcam", tc.XGradCAM), ("layercam", tc.LayerCAM)],
)
def test_gradient_methods_match_torchcam(net, x, method, cls):
    for k in (0, 3):
        ours = hm.cam_map(net, x, LAYER, k, method)
        with cls(net, LAYER) as extractor:
            ref = extractor(k, net(x), normalized=False)[0][0]
        close(ours, ref.detach())
        assert float(ours.min()) >= 0 and ours.shape == (4, 4)


def test_scorecam_matches_torchcam(net, x):
    ours = hm.cam_map(net, x, LAYER, 2, "scorecam", batch_size=48)
    with tc.ScoreCAM(net, LAYER, batch_size=32) as extractor:
        with torch.no_grad():
            net(x)
        ref = extractor(2, normalized=False)[0][0]
    close(ours, ref, tol=1e-4)
    assert float(ours.max()) > 0


def test_each_method_against_its_formula_by_autograd(net, x):
    k = 4
    a, g, _ = autograd_acts_grads(net, x, LAYER, k)
    relu = torch.relu
    w_grad = g.mean(dim=(1, 2))
    close(hm.cam_map(net, x, LAYER, k, "gradcam"), relu((a * w_grad[:, None, None]).sum(0)))
    close(hm.cam_map(net, x, LAYER, k, "hirescam"), relu((g * a).sum(0)))
    close(hm.cam_map(net, x, LAYER, k, "layercam"), relu((relu(g) * a).sum(0)))
    w_x = np.array([(g[c] * a[c]).sum() / (a[c].sum() + 1e-8) for c in range(a.shape[0])])
    close(
        hm.cam_map(net, x, LAYER, k, "xgradcam"),
        relu(torch.einsum("c,chw->hw", torch.tensor(w_x, dtype=torch.float64), a)),
    )
    # Grad-CAM++, channel by channel as the paper writes it: alpha = g^2 / (2 g^2 + g^3 sum A).
    weights = []
    for c in range(a.shape[0]):
        gc, total = g[c].numpy(), float(a[c].sum())
        den = 2 * gc**2 + gc**3 * total
        alpha = np.where(gc != 0, gc**2 / np.where(den != 0, den, 1.0), 0.0)
        weights.append(float((alpha * np.maximum(gc, 0)).sum()))
    ref = relu(torch.einsum("c,chw->hw", torch.tensor(weights, dtype=torch.float64), a))
    close(hm.cam_map(net, x, LAYER, k, "gradcam++"), ref)
    # (torchcam 0.5.0's GradCAMpp is no oracle here: its `alpha[mask].div_(...)` divides a copy,
    # so its alpha stays g^2.)


def test_eigencam_is_the_first_principal_component_signed_like_the_mean(net, x):
    a, _, _ = autograd_acts_grads(net, x, LAYER, 0)
    c, h, w = a.shape
    rows = a.reshape(c, h * w).T.numpy()
    rows = rows - rows.mean(axis=0)
    _, vecs = np.linalg.eigh(rows.T @ rows)  # covariance's eigenvectors, ascending
    p = rows @ vecs[:, -1]
    mean = a.mean(0).flatten().numpy()
    if np.corrcoef(p, mean)[0, 1] < 0:
        p = -p
    ref = torch.tensor(np.maximum(p, 0).reshape(h, w))
    close(hm.cam_map(net, x, LAYER, None, "eigencam"), ref)
    # A flipped sign would correlate negatively with the mean activation: check the pick.
    full = torch.tensor(rows) @ torch.tensor(vecs[:, -1])
    sign = 1.0 if np.corrcoef(full.numpy(), mean)[0, 1] >= 0 else -1.0
    close(hm.eigen_cam(a.float()), (sign * full).clamp_min(0).reshape(h, w))


def test_gradcam_is_the_library_variant_and_none_is_the_predicted_class(net, x):
    logits = net(x)[0]
    k = int(logits.argmax())
    lib = hm.grad_cam(net, x, LAYER, k, "library")
    for method in hm.CAM_METHODS:
        layer = SMALL if method == "scorecam" else LAYER
        torch.testing.assert_close(
            hm.cam_map(net, x, layer, None, method), hm.cam_map(net, x, layer, k, method)
        )
    torch.testing.assert_close(hm.cam_map(net, x, LAYER, None, "gradcam"), lib)
    c = hm.capture(net, x, LAYER, k)
    for method in (*hm.GRADIENT_METHODS, "eigencam"):
        torch.testing.assert_close(
            hm.heat(c.acts, c.grads, method), hm.cam_map(net, x, LAYER, k, method)
        )


def test_score_weights_share_one_pass_for_constant_channels(net, x):
    acts = hm.activations(net, x, SMALL).clone()
    acts[::3] = 0.0  # constant channels: their masks are all zero
    acts[1] = 2.5
    w = hm.score_weights(net, x, acts, 1, batch_size=40)
    masks = []
    for c in range(acts.shape[0]):  # every channel its own mask, no sharing
        m = acts[c] - acts[c].min()
        m = m / (m.max() + 1e-8)
        masks.append(F.interpolate(m[None, None], size=(64, 64), mode="bilinear"))
    with torch.no_grad():
        scores = net(x * torch.cat(masks))[:, 1]
    close(w, scores.softmax(0), tol=1e-5)


def test_hooks_removed_and_model_unchanged(x):
    model = models.create_cnn("resnet18", 5, seed=3)
    model.train()
    model[0][0].requires_grad_(False)  # a frozen stem, as fit_one_cycle's first stage has
    model[1].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    for method in hm.CAM_METHODS:
        m = hm.cam_map(model, x, SMALL, 1, method, batch_size=64)
        assert m.shape == (8, 8) and float(m.min()) >= 0 and torch.isfinite(m).all()
        assert all(not mod._forward_hooks for mod in model.modules())
        assert all(not mod._forward_pre_hooks for mod in model.modules())
        assert [p.requires_grad for p in model.parameters()] == flags
        assert [mod.training for mod in model.modules()] == modes
        after = model.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before)  # BN stats untouched
        assert all(p.grad is None for p in model.parameters())


def test_unknown_method_and_bad_class(net, x):
    with pytest.raises(ValueError, match="Unknown CAM method"):
        hm.cam_map(net, x, LAYER, 0, "gradcam+++")
    with pytest.raises(hm.ClassIndexError, match="out of range"):
        hm.cam_map(net, x, LAYER, 9, "scorecam")
    with pytest.raises(hm.ClassIndexError, match="out of range"):
        hm.cam_map(net, x, LAYER, 9, "hirescam")


def test_scorecam_in_bfloat16_agrees_with_full_precision(net, x):
    exact = hm.cam_map(net, x, SMALL, 2, "scorecam")
    fast = hm.cam_map(net, x, SMALL, 2, "scorecam", dtype=torch.bfloat16)
    close(fast, exact, tol=1e-2)
    assert hm.fast_dtype("cuda") == torch.bfloat16
    assert hm.fast_dtype("cpu") in (torch.bfloat16, None)

"""The lesson's CNN: a torchvision ResNet body plus fastai's head, its layer groups, ImageNet
weights and `summary`. Checkpoints (safetensors + JSON, nothing unpickled) live in
explorer.checkpoints and are re-exported here (`models.save`, `models.load`, ...).
"""

from __future__ import annotations

import math
import pickle
import urllib.error
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import torch
import torch.fx
from torch import Tensor, nn

from explorer.errors import UserError
from explorer.net import REACH_TIMEOUT_S, reachable

if TYPE_CHECKING:
    import torchvision

ARCHS = ("resnet18", "resnet34", "resnet50")

# torchvision's DEFAULT ImageNet weights per architecture: the file torch.hub caches and its size.
# Written out so the pages can say "needs the network and about 83 MB" and tell whether the weights
# are cached without importing torchvision (over a second); tests check them against torchvision.
IMAGENET_HOST = "download.pytorch.org"
IMAGENET_FILES = {
    "resnet18": "resnet18-f37072fd.pth",
    "resnet34": "resnet34-b627a593.pth",
    "resnet50": "resnet50-11ad3fa6.pth",
}
IMAGENET_DOWNLOAD_MB = {"resnet18": 45, "resnet34": 83, "resnet50": 98}  # rounded MB (1e6 bytes)


class WeightsUnavailable(UserError, RuntimeError):
    """ImageNet weights are neither in the torch hub cache nor downloadable."""


class UnknownArch(UserError):
    """An architecture name that is not in ARCHS."""


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise UnknownArch(f"Unknown architecture {arch!r}; choose one of {', '.join(ARCHS)}.")


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling side by side (fastai): twice the features of either alone.

    Shape:
        (B, C, H, W) -> (B, 2C, 1, 1), max-pooled channels first.
    """

    def __init__(self, size: int = 1) -> None:
        super().__init__()
        self.mp = nn.AdaptiveMaxPool2d(size)
        self.ap = nn.AdaptiveAvgPool2d(size)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


def _tv_models() -> ModuleType:
    # Imported on first use: torchvision costs over a second to import, and listing or saving
    # checkpoints (the app's home page, a job's status) never needs it.
    import torchvision.models

    return torchvision.models


def _weights_enum(arch: str) -> torchvision.models.WeightsEnum:
    _check_arch(arch)
    return _tv_models().get_model_weights(arch).DEFAULT


def _cache_file(arch: str) -> Path:
    # Resolved at call time: torch.hub.get_dir() follows $TORCH_HOME and torch.hub.set_dir().
    _check_arch(arch)
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_FILES[arch]


def imagenet_weights_cached(arch: str = "resnet34") -> bool:
    """Whether torchvision's ImageNet weights for `arch` are already in the torch hub cache.

    Args:
        arch: one of ARCHS.

    Returns:
        True when loading them needs no network (else they download: IMAGENET_DOWNLOAD_MB[arch]).
    """
    return _cache_file(arch).is_file()


def _imagenet_state_dict(arch: str, timeout: float = REACH_TIMEOUT_S) -> dict[str, Tensor]:
    """torchvision's ImageNet state dict for `arch`, from the cache or downloaded into it.

    Raises:
        WeightsUnavailable: not cached and the server does not answer within `timeout` seconds,
            the download fails, or the cached file is unreadable.
    """
    _check_arch(arch)
    offer = "Train from scratch (random weights) instead, or connect to the internet and retry."
    if not imagenet_weights_cached(arch):
        # torch.hub's download has no timeout; a firewalled host would hang a page for minutes,
        # so check first, quickly and before importing torchvision, that the server answers.
        why = reachable(IMAGENET_HOST, 443, timeout)
        if why is not None:
            raise WeightsUnavailable(
                f"The ImageNet weights for {arch} are not cached, and downloading them "
                f"(about {IMAGENET_DOWNLOAD_MB[arch]} MB) needs the network, which does not "
                f"answer ({IMAGENET_HOST}: {why}). {offer}"
            )
    weights = _weights_enum(arch)
    try:
        return weights.get_state_dict(progress=False)
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsUnavailable(
            f"The ImageNet weights for {arch} could not be downloaded ({exc}). {offer}"
        ) from exc
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise WeightsUnavailable(
            f"The cached ImageNet weights for {arch} at {_cache_file(arch)} are unreadable "
            f"({exc}); delete that file to download them again. {offer}"
        ) from exc


def _split_resnet(net: torchvision.models.ResNet) -> nn.Sequential:
    """The convolutional body of a torchvision ResNet: everything before avgpool and fc."""
    return nn.Sequential(
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
    )


def create_head(nf: int, n_classes: int, bn_final: bool = False, ps: float = 0.5) -> nn.Sequential:
    """fastai v1's `create_head` with its defaults (lin_ftrs=[512], ps=0.5, concat pooling).

    Args:
        nf: channels coming out of the body (the head sees 2*nf after concat pooling).
        n_classes: number of outputs.
        bn_final: append BatchNorm1d over the outputs (the lesson uses it: it keeps the logits'
            scale in check at the start of training).
        ps: fastai's dropout: ps/2 before the first Linear, ps before the last.

    Returns:
        The head; Linear layers kaiming-normal initialised with zero bias, as fastai does.

    Shape:
        (B, nf, H, W) -> (B, n_classes)
    """
    layers: list[nn.Module] = [
        AdaptiveConcatPool2d(),
        nn.Flatten(),
        nn.BatchNorm1d(2 * nf),
        nn.Dropout(ps / 2),
        nn.Linear(2 * nf, 512),
        nn.ReLU(inplace=True),
        nn.BatchNorm1d(512),
        nn.Dropout(ps),
        nn.Linear(512, n_classes),
    ]
    if bn_final:
        layers.append(nn.BatchNorm1d(n_classes, momentum=0.01))
    head = nn.Sequential(*layers)
    for m in head.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight)
            nn.init.zeros_(m.bias)
    return head


def create_cnn(
    arch: str,
    n_classes: int,
    pretrained: bool = False,
    bn_final: bool = False,
    seed: int | None = None,
    ps: float = 0.5,
) -> nn.Sequential:
    """The lesson's `create_cnn`: `nn.Sequential(body, head)`.

    Args:
        arch: one of ARCHS.
        n_classes: number of classes the head predicts (at least 1).
        pretrained: load torchvision's ImageNet weights into the body.
        bn_final: end the head with BatchNorm1d(n_classes), as the lesson does.
        seed: when given, the random initialisation is reproducible (the global RNG is left as
            it was).
        ps: the head's dropout (fastai's ps; 0.5 as in the lesson).

    Returns:
        `model[0]` is the ResNet body (conv1, bn1, relu, maxpool, layer1..layer4, so its modules
        are named "0.0" ... "0.7"), `model[1]` the head. The model is in training mode.

    Raises:
        ValueError: unknown arch or n_classes < 1.
        WeightsUnavailable: pretrained weights are neither cached nor downloadable.

    Shape:
        (B, 3, H, W) -> (B, n_classes)
    """
    _check_arch(arch)
    if n_classes < 1:
        raise ValueError(f"A classifier needs at least one class, got n_classes={n_classes}.")
    state = _imagenet_state_dict(arch) if pretrained else None
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            torch.manual_seed(seed)
        net = _tv_models().get_model(arch, weights=None)
        if state is not None:
            net.load_state_dict(state)
        nf = net.fc.in_features
        model = nn.Sequential(_split_resnet(net), create_head(nf, n_classes, bn_final, ps))
    return model


def pretrained_classifier(
    arch: str = "resnet34", pretrained: bool = True
) -> tuple[nn.Sequential, list[str]]:
    """torchvision's ImageNet classifier, rearranged like `create_cnn` for the heatmap page.

    Args:
        arch: one of ARCHS.
        pretrained: False gives random weights (same structure and names; useful offline/tests).

    Returns:
        (model, categories): `Sequential(body, Sequential(AdaptiveAvgPool2d(1), Flatten, fc))` in
        eval mode, computing exactly what torchvision's model computes, and the 1000 ImageNet
        category names from the weights' meta.

    Raises:
        WeightsUnavailable: pretrained and the weights are neither cached nor downloadable.

    Shape:
        (B, 3, H, W) -> (B, 1000)
    """
    weights = _weights_enum(arch)
    net = _tv_models().get_model(arch, weights=None)
    if pretrained:
        net.load_state_dict(_imagenet_state_dict(arch))
    return from_torchvision(net), list(weights.meta["categories"])


def from_torchvision(net: torchvision.models.ResNet) -> nn.Sequential:
    """Rearrange a torchvision ResNet as `Sequential(body, Sequential(pool, flatten, fc))`.

    The modules are shared, not copied; the result is in eval mode.

    Shape:
        (B, 3, H, W) -> (B, net.fc.out_features)
    """
    head = nn.Sequential(net.avgpool, nn.Flatten(), net.fc)
    return nn.Sequential(_split_resnet(net), head).eval()


def _bn_types() -> tuple[type[nn.Module], ...]:
    # Every BatchNorm: 1d/2d/3d and the synchronised ones a torchrun run converts them to.
    return (nn.modules.batchnorm._BatchNorm,)


def freeze(model: nn.Sequential) -> None:
    """Train only the head and every BatchNorm layer (fastai's `freeze` with train_bn=True).

    BatchNorm stays trainable because its statistics and affine parameters must adapt to the new
    data even when the convolutions keep their ImageNet filters.
    """
    for p in model[1].parameters():
        p.requires_grad_(True)
    for m in model[0].modules():
        trainable = isinstance(m, _bn_types())
        for p in m.parameters(recurse=False):
            p.requires_grad_(trainable)


def unfreeze(model: nn.Sequential) -> None:
    """Make every parameter trainable."""
    for p in model.parameters():
        p.requires_grad_(True)


def layer_groups(model: nn.Sequential) -> list[list[nn.Parameter]]:
    """fastai's ResNet split: stem+layer1+layer2, layer3+layer4, head.

    Returns:
        Three lists of parameters (all of them, trainable or not), for per-group learning rates.
    """
    body, head = model[0], model[1]
    assert isinstance(body, nn.Sequential)  # create_cnn's and from_torchvision's layout
    return [
        list(body[:6].parameters()),
        list(body[6:].parameters()),
        list(head.parameters()),
    ]


def lr_for_groups(lr: float | tuple[float, float], n_groups: int = 3) -> list[float]:
    """Learning rate per layer group, as fastai reads `max_lr`.

    Args:
        lr: a pair (lo, hi) is `slice(lo, hi)`: lo for the first group, hi for the last, spread
            geometrically between. A single float is `slice(lr)`: lr for the last group and lr/10
            for the others.
        n_groups: number of groups.

    Returns:
        n_groups learning rates, first group first.

    Raises:
        ValueError: a non-positive or non-finite rate, or n_groups < 1.
    """
    if n_groups < 1:
        raise ValueError(f"n_groups must be at least 1, got {n_groups}.")
    values = list(lr) if isinstance(lr, tuple | list) else [lr]
    if (
        isinstance(lr, tuple | list)
        and len(values) != 2
        or not all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in values)
    ):
        raise ValueError(
            f"A learning rate must be a positive number or a (low, high) pair, got {lr!r}."
        )
    if len(values) == 1:
        return [values[0] / 10] * (n_groups - 1) + [float(values[0])]
    lo, hi = values
    if n_groups == 1:
        return [float(hi)]
    return [lo * (hi / lo) ** (i / (n_groups - 1)) for i in range(n_groups)]


# --- summary -------------------------------------------------------------------------------------


class _LeafTracer(torch.fx.Tracer):
    """Traces a model down to its leaf modules (those without children), custom ones included."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return not any(True for _ in m.children())


def summary(
    model: nn.Module, size: int, device: str | torch.device = "cpu"
) -> list[dict[str, Any]]:
    """fastai's `learn.summary()`: one row per leaf module call for a (1, 3, size, size) input.

    The calls come from a torch.fx trace, in the order the forward makes them: a module called
    more than once (the ReLU a ResNet block shares) gives a row per call, each with the shape of
    that call. The pass runs inside `explorer.heatmap.hooked` (which holds the model's lock, puts
    it in eval mode and restores every module's mode afterwards), without gradients, so BatchNorm
    statistics do not move and no hook is left behind.

    Returns:
        Rows {"layer": class name, "name": module name, "output_shape": list[int],
        "params": own parameter count, "trainable": whether any own parameter requires grad}.
    """
    from torch.fx.passes.shape_prop import ShapeProp

    from explorer import heatmap

    graph = _LeafTracer().trace(model)
    calls = [n for n in graph.nodes if n.op == "call_module"]
    modules = dict(model.named_modules())
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    x = torch.zeros(1, 3, size, size, device=device, dtype=dtype)
    # The hook on the last call checks the traced pass against the module the model really ran.
    with heatmap.hooked(model, str(calls[-1].target)) as hook, torch.no_grad():
        ShapeProp(torch.fx.GraphModule(model, graph)).propagate(x)
    rows: list[dict[str, Any]] = []
    for node in calls:
        module = modules[str(node.target)]
        params = list(module.parameters(recurse=False))
        meta = node.meta.get("tensor_meta")
        rows.append(
            {
                "layer": type(module).__name__,
                "name": str(node.target),
                "output_shape": list(meta.shape) if meta is not None else [],
                "params": sum(p.numel() for p in params),
                "trainable": any(p.requires_grad for p in params),
            }
        )
    assert hook.acts is not None and list(hook.acts.shape) == rows[-1]["output_shape"]
    return rows


def summary_table(rows: list[dict[str, Any]]) -> str:
    """`summary` rows as the text table fastai's `learn.summary()` prints, with parameter totals.

    Output shapes include the batch dimension, as the lesson's printout does. A module called twice
    (a ResNet block's shared ReLU) is listed twice but its parameters are counted once.
    """
    lines = [f"{'Layer (type)':<24}{'Output Shape':<22}{'Param #':>12}  Trainable", "=" * 68]
    for r in rows:
        shape = "[" + ", ".join(str(d) for d in r["output_shape"]) + "]"
        lines.append(f"{r['layer']:<24}{shape:<22}{r['params']:>12,}  {r['trainable']}")
    own = {r["name"]: r for r in rows}.values()
    total = sum(r["params"] for r in own)
    trainable = sum(r["params"] for r in own if r["trainable"])
    lines += [
        "=" * 68,
        f"Total params: {total:,}",
        f"Total trainable params: {trainable:,}",
        f"Total non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines)


# Checkpoints live in their own module; these names stay reachable as models.save, models.load, ...
from explorer.checkpoints import (  # noqa: E402 - checkpoints imports this module's names lazily
    CheckpointError,
    check_name,
    list_checkpoints,
    load,
    save,
)

__all__ = [
    "ARCHS",
    "IMAGENET_DOWNLOAD_MB",
    "AdaptiveConcatPool2d",
    "CheckpointError",
    "UnknownArch",
    "WeightsUnavailable",
    "check_name",
    "create_cnn",
    "create_head",
    "freeze",
    "from_torchvision",
    "imagenet_weights_cached",
    "layer_groups",
    "list_checkpoints",
    "load",
    "lr_for_groups",
    "pretrained_classifier",
    "save",
    "summary",
    "summary_table",
    "unfreeze",
]

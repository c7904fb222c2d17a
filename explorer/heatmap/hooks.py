"""Hook one layer of a CNN: the hook context manager every look inside a model uses.

`hooked` records a layer's output (and its gradient) and always restores the model; `model_lock`
makes sessions that share a cached model take turns.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from explorer.errors import UserError


class LayerError(UserError):
    """A layer name a person gave that cannot be hooked (unknown, shared, not a tensor, ...)."""


# --------------------------------------------------------------------------------------------
# Locks: one per model object, so sessions sharing a cached model take turns at hooking it.
# --------------------------------------------------------------------------------------------

# The one piece of module state: lock identity has to follow model identity across sessions, and
# weak keys let a model (and its lock) go away when the cache drops it.
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The lock every hooked use of `model` holds (re-entrant, so helpers may nest).

    Args:
        model: any module; the same object always gets the same lock.

    Returns:
        A `threading.RLock` shared by everyone holding this model.
    """
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = _LOCKS[model] = threading.RLock()
        return lock


# --------------------------------------------------------------------------------------------
# The hook
# --------------------------------------------------------------------------------------------


class _Stop(Exception):
    """Raised by the forward hook to end a forward pass once the hooked layer has run."""


def find_layer(model: nn.Module, layer: str) -> nn.Module:
    """The submodule called `layer` in `model.named_modules()`.

    Raises:
        LayerError: no module has that name (the message lists a few that do).
    """
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [n for n in modules if n][:8]
        raise LayerError(f"The model has no layer named {layer!r}; try one of {names}.")
    return modules[layer]


@dataclass
class Hook:
    """What a hooked pass stored: the layer's output and, when asked, its gradient.

    `forward` and `backward` run the cheap path: everything below the hooked layer runs without
    autograd, so the backward stops at the layer and never computes parameter gradients.
    """

    model: nn.Module
    layer: str
    grad: bool = False
    acts: Tensor | None = None  # the layer's output, (B, C, h, w)
    grads: Tensor | None = None  # d(score)/d(acts), same shape, filled by backward
    calls: int = 0
    _mode: str = "plain"  # "plain" (any forward), "cut" (Hook.forward) or "stop" (stop_forward)
    _handles: list = field(default_factory=list)

    def _on_forward(self, module: nn.Module, inputs: tuple, output: object) -> Tensor | None:
        self.calls += 1
        if not isinstance(output, Tensor):
            raise LayerError(f"Layer {self.layer!r} does not output a single tensor; pick another.")
        if self._mode == "stop":
            self.acts = output.detach()
            raise _Stop
        if self._mode == "cut" and self.calls == 1:
            # From here on autograd records: the activations become the leaf the backward ends at.
            torch.set_grad_enabled(True)
            leaf = output.detach().requires_grad_(True)
            self.acts = leaf
            if self.grad:
                self._handles.append(leaf.register_hook(self._on_grad))
            # A copy goes on, so an in-place op in the next layer cannot overwrite the leaf.
            return leaf.clone()
        # Plain forward: copy, since a following in-place ReLU would rewrite the stored output.
        self.acts = output.detach().clone()
        if self.grad and output.requires_grad:
            self._handles.append(output.register_hook(self._on_grad))
        return None

    def _on_grad(self, grad: Tensor) -> None:
        self.grads = grad.detach().clone()

    def _device(self) -> torch.device:
        p = next(self.model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def forward(self, x: Tensor) -> Tensor:
        """Run the model on `x`, recording autograd only from the hooked layer on.

        Args:
            x: the input batch, moved to the model's device.

        Returns:
            The model's output (logits), differentiable with respect to `self.acts` only.

        Shape:
            x: (B, 3, H, W) -> (B, n_classes)
        """
        self.calls, self.acts, self.grads = 0, None, None
        self._mode = "cut"
        enabled = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        try:
            out = self.model(x.to(self._device()))
        finally:
            torch.set_grad_enabled(enabled)
            self._mode = "plain"
        self._check_ran()
        return out

    def stop_forward(self, x: Tensor) -> Tensor:
        """Run the model only as far as the hooked layer and return its output (no autograd).

        Shape:
            x: (B, 3, H, W) -> (B, C, h, w)
        """
        self.calls, self.acts, self.grads = 0, None, None
        self._mode = "stop"
        try:
            with torch.no_grad():
                self.model(x.to(self._device()))
        except _Stop:
            pass
        finally:
            self._mode = "plain"
        self._check_ran()
        assert self.acts is not None
        return self.acts

    def backward(self, score: Tensor) -> Tensor:
        """Back-propagate a scalar `score` to the hooked layer only; returns the gradient.

        Shape:
            score: () -> (B, C, h, w)
        """
        if not self.grad or self.acts is None or not self.acts.requires_grad:
            raise ValueError("Call hooked(..., grad=True) and Hook.forward before backward.")
        # inputs= stops the engine at the hooked layer instead of walking down to the input.
        torch.autograd.backward(score, inputs=[self.acts])
        if self.grads is None:
            raise LayerError(f"The score does not depend on layer {self.layer!r}.")
        return self.grads

    def _check_ran(self) -> None:
        if self.calls == 0:
            raise LayerError(f"Layer {self.layer!r} did not run in the forward pass.")
        if self.calls > 1:
            raise LayerError(
                f"Layer {self.layer!r} runs {self.calls} times per forward pass "
                "(a shared module); hook the block that contains it instead."
            )


@contextmanager
def evaluating(
    model: nn.Module, no_grad_params: bool = True, lock: threading.RLock | None = None
) -> Iterator[nn.Module]:
    """Hold the model's lock with the model in eval mode (and, by default, no parameter requiring
    a gradient); on the way out every training flag and `requires_grad` is put back as it was.

    Args:
        model: the network.
        no_grad_params: switch `requires_grad` off for every parameter inside.
        lock: the lock to hold; default `model_lock(model)`.

    Yields:
        The model itself.
    """
    with lock or model_lock(model):
        training = [(m, m.training) for m in model.modules()]
        flags = [(p, p.requires_grad) for p in model.parameters()]
        try:
            model.eval()
            if no_grad_params:
                for p, _ in flags:
                    p.requires_grad_(False)
            yield model
        finally:
            for m, was_training in training:
                m.training = was_training
            for p, flag in flags:
                p.requires_grad_(flag)


@contextmanager
def hooked(
    model: nn.Module, layer: str, grad: bool = False, lock: threading.RLock | None = None
) -> Iterator[Hook]:
    """Hook the output of one layer for the duration of a `with` block.

    Inside, the model is in eval mode and (with `grad`) no parameter requires a gradient; on the way
    out, whatever happened inside (an exception too), the hooks are removed and every module's
    training flag and every parameter's `requires_grad` are put back as they were. The model's lock
    is held throughout, so sessions sharing a model never see each other's hooks.

    Args:
        model: the network, e.g. `nn.Sequential(body, head)`.
        layer: a name from `model.named_modules()`, e.g. "0" for the body.
        grad: also capture the gradient at the layer's output (with a tensor hook).
        lock: the lock to hold; default `model_lock(model)`.

    Yields:
        The `Hook`, whose `forward`/`stop_forward`/`backward` fill `acts` and `grads`. A plain
        `model(x)` inside also stores `acts`, and the gradient too if `x` requires grad (the usual,
        costly way: autograd then records every layer).
    """
    module = find_layer(model, layer)
    with evaluating(model, no_grad_params=grad, lock=lock):
        hook = Hook(model, layer, grad)
        hook._handles.append(module.register_forward_hook(hook._on_forward))
        try:
            yield hook
        finally:
            for handle in hook._handles:
                handle.remove()
            hook._handles.clear()

"""Padding modes, named once: grid_sample's zeros/border/reflection, the names users see, and the
F.pad names they correspond to, with one line of help each.
"""

from __future__ import annotations

from explorer.errors import UserError

PADDING_MODES = ("zeros", "border", "reflection")  # grid_sample's names, the ones users see
PAD_MODE = {"zeros": "constant", "border": "replicate", "reflection": "reflect"}  # -> F.pad's names
PADDING_HELP = {
    "zeros": "black outside the picture (F.pad 'constant' with 0)",
    "border": "the edge pixel repeated outwards (F.pad 'replicate')",
    "reflection": "the picture mirrored about its edge pixel (F.pad 'reflect')",
}


class PaddingError(UserError):
    """A padding mode that is not one of PADDING_MODES."""


def check_padding_mode(padding_mode: str) -> str:
    """Return `padding_mode` if it is one of PADDING_MODES.

    Raises:
        PaddingError: (a ValueError) naming the choices, for any other value.
    """
    if padding_mode not in PADDING_MODES:
        raise PaddingError(
            f"Padding mode {padding_mode!r} is unknown; choose one of {', '.join(PADDING_MODES)}."
        )
    return padding_mode


def pad_mode(padding_mode: str) -> str:
    """F.pad's name for one of grid_sample's padding modes ('reflection' -> 'reflect').

    Raises:
        PaddingError: for a name that is not in PADDING_MODES.
    """
    return PAD_MODE[check_padding_mode(padding_mode)]

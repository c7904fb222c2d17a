"""What a person may point the server at: folders only below the roots the server allows, and a
label regex run with a length and a time bound.

A regex like `(a+)+$` backtracks for ever on a name of many a's, and Python's `re` holds the GIL
while it does (no thread could interrupt it), so file names are labelled in a short-lived child
process that is killed when it takes too long.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from explorer import paths
from explorer.errors import UserError

ROOTS_ENV = "EXPLORER_DATA_ROOTS"
MAX_REGEX_LEN = 200  # characters: a label regex is a short pattern on a file name
REGEX_TIMEOUT_S = 5.0  # for labelling every file name of a folder, process start included


class OutsideRoots(UserError):
    """A folder outside the roots the server lets the app read."""


class RegexTooSlow(UserError):
    """A label regex that is too long or takes too long on the folder's file names."""


def allowed_roots() -> list[Path]:
    """The folders (resolved) below which the app reads images: $EXPLORER_DATA_ROOTS
    (os.pathsep-separated), else the project's data/ folder and the user's home."""
    spec = os.environ.get(ROOTS_ENV, "")
    raw: list[Path] = [Path(p) for p in spec.split(os.pathsep) if p.strip()]
    return [p.expanduser().resolve() for p in raw or [paths.data_dir(), Path.home()]]


def check_folder(path: Path | str) -> Path:
    """`path` resolved (symlinks and '..' followed), when it lies below an allowed root.

    Raises:
        OutsideRoots: it resolves outside every root (or cannot be resolved).
    """
    roots = allowed_roots()
    try:
        resolved = Path(path).expanduser().resolve()
    except (RuntimeError, ValueError, OSError):  # "~nosuchuser", a NUL byte, a loop
        resolved = None
    if resolved is None or not any(resolved.is_relative_to(r) for r in roots):
        names = ", ".join(str(r) for r in roots)
        raise OutsideRoots(
            f"The folder {str(path)!r} is outside the folders this server reads images from "
            f"({names}); put the images below one of them, or ask whoever runs the server to add "
            f"the folder to {ROOTS_ENV}."
        )
    return resolved


def compile_label_regex(regex: str) -> re.Pattern[str]:
    """Compile a person's label regex after checking its length.

    Raises:
        RegexTooSlow: longer than MAX_REGEX_LEN characters.
        re.error: not a regular expression (the caller words it).
    """
    if len(regex) > MAX_REGEX_LEN:
        raise RegexTooSlow(
            f"The label regex is {len(regex)} characters long; use at most {MAX_REGEX_LEN}."
        )
    return re.compile(regex)


_LABEL = """
import json, re, sys
job = json.load(sys.stdin)
pattern = re.compile(job["regex"])
out = []
for name in job["names"]:
    m = pattern.search(name)
    out.append(m.group(1) if m else None)
json.dump(out, sys.stdout)
"""


def labels_by_regex(
    regex: str, names: Sequence[str], timeout: float = REGEX_TIMEOUT_S
) -> list[str | None]:
    """Group 1 of `regex` searched in each name (None where it does not match), in a child
    process given `timeout` seconds.

    Raises:
        RegexTooSlow: too long, or the matching took longer than `timeout`.
    """
    compile_label_regex(regex)
    job = json.dumps({"regex": regex, "names": list(names)})
    try:
        out = subprocess.run(
            [sys.executable, "-I", "-c", _LABEL],
            input=job,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )
    except subprocess.TimeoutExpired:
        raise RegexTooSlow(
            f"The label regex {regex!r} takes longer than {timeout:g} s on these file names (it "
            "probably backtracks, like (a+)+); write it without nested repeats."
        ) from None
    labels: list[str | None] = json.loads(out.stdout)
    return labels

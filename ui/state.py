"""Page settings that survive a page switch and live in the URL.

Streamlit forgets the state of every widget that a run does not draw, so a page switch resets the
page left behind. Each page therefore declares its settings once (`Setting`s keyed like its
widgets) and calls `persist(page, settings)` before drawing them:

- the latest value of every declared widget is copied to a store of its own (`remember`, which
  app.py calls at the start of every full run, before the old page's widgets are dropped);
- a widget whose state was dropped gets its value back from that store (or the URL, or its default);
- the page's non-default values are written to `st.query_params`, so reload, bookmark and a link
  open the same view. The URL is untrusted input: a value that does not parse or is out of range
  falls back to its default, and the page says which in one sentence.

Widgets then take their value from session state only (`key=...`, no `value=`/`index=`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import streamlit as st

_STORE = "_state_store"  # key -> the last value a person gave that setting
_PAGES = "_state_pages"  # page -> its settings, so write_url() can be called from a fragment
_URL = "_state_url"  # (page, query params) of the session's first run: the link it was opened with
_URL_READ = "_state_url_read"  # setting keys already given their value from that link


@dataclass(frozen=True)
class Setting:
    """One setting of a page: its session-state key, URL name, default and URL parser.

    `parse` turns URL text into a value and raises ValueError (or returns something `check`
    refuses) for anything unusable; `show` turns a value back into URL text.
    """

    key: str
    default: Any
    parse: Callable[[str], Any]
    show: Callable[[Any], str] = str
    name: str = ""  # the URL parameter; defaults to the key without its "<page>_" prefix
    in_url: bool = True  # False: kept across page switches but not written to the URL
    extra: dict[str, Any] = field(default_factory=dict)

    def url_name(self, page: str) -> str:
        if self.name:
            return self.name
        prefix = f"{page}_"
        return self.key[len(prefix) :] if self.key.startswith(prefix) else self.key


# --- parsers for the common kinds of widget -------------------------------------------------


def number(
    key: str, default: float, lo: float, hi: float, *, integer: bool = False, name: str = ""
) -> Setting:
    """A slider or number input in [lo, hi]; integers when `integer`."""

    def parse(text: str) -> float | int:
        v = float(text)
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ValueError(f"{text} is outside {lo}–{hi}")
        if integer:
            if v != int(v):
                raise ValueError(f"{text} is not a whole number")
            return int(v)
        return v

    return Setting(key, default, parse, _show_number, name=name)


def choice(key: str, default: Any, options: Sequence[Any], *, name: str = "") -> Setting:
    """A selectbox, radio or segmented control over `options` (matched by their text)."""
    by_text = {str(o): o for o in options}

    def parse(text: str) -> Any:
        if text not in by_text:
            raise ValueError(f"{text!r} is not one of {', '.join(by_text)}")
        return by_text[text]

    return Setting(key, default, parse, str, name=name)


def flag(key: str, default: bool, *, name: str = "") -> Setting:
    """A checkbox or toggle: 1/0 (also true/false, yes/no, on/off) in the URL."""
    words = {"1": True, "true": True, "yes": True, "on": True}
    words |= {"0": False, "false": False, "no": False, "off": False}

    def parse(text: str) -> bool:
        if text.lower() not in words:
            raise ValueError(f"{text!r} is not on or off")
        return words[text.lower()]

    return Setting(key, default, parse, lambda v: "1" if v else "0", name=name)


def text(key: str, default: str, *, max_len: int = 100, name: str = "") -> Setting:
    """A free text field, at most `max_len` characters in the URL."""

    def parse(t: str) -> str:
        if len(t) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        return t

    return Setting(key, default, parse, str, name=name)


def number_range(
    key: str, default: tuple[float, float], lo: float, hi: float, *, name: str = ""
) -> Setting:
    """A two-handle slider: "a,b" in the URL, lo ≤ a ≤ b ≤ hi."""

    def parse(t: str) -> tuple[float, float]:
        a, b = (float(p) for p in t.split(","))
        if not (math.isfinite(a) and math.isfinite(b) and lo <= a <= b <= hi):
            raise ValueError(f"{t} is not a range inside {lo}–{hi}")
        return type(default[0])(a), type(default[1])(b)

    return Setting(key, default, parse, lambda v: ",".join(_show_number(x) for x in v), name=name)


def _show_number(v: float) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int) or float(v).is_integer():
        return str(int(v))
    return f"{v:.6g}"


# --- the mechanism ----------------------------------------------------------------------------


def _store() -> dict[str, Any]:
    return st.session_state.setdefault(_STORE, {})


def remember(page: str) -> None:
    """Copy the current value of every declared setting to the store.

    app.py calls this at the start of every full run with the page about to run (its url_path):
    the widgets of the page being left still have their state then; Streamlit drops it at the end
    of the run that does not draw them. The first run of a session also keeps the link it was
    opened with, for `persist` to read.
    """
    if _URL not in st.session_state:
        st.session_state[_URL] = (page, st.query_params.to_dict())
    store = _store()
    for settings in st.session_state.get(_PAGES, {}).values():
        for s in settings.values():
            if s.key in st.session_state:
                store[s.key] = st.session_state[s.key]


def persist(page: str, settings: Iterable[Setting]) -> list[str]:
    """Give every setting of `page` its value before the page draws its widgets.

    Order of precedence: the link the session was opened with (read once per setting, and only if
    it opened on this page), then the value the person last gave it (kept across page switches),
    then its default. Writes the page's URL. A page may call this more than once (e.g. once per
    section); `page` is the page's url_path ("augment", "convolve", ...; "" for Home).

    Returns:
        The URL parameters that were ignored (bad or out of range), each as "name (why)"; a warning
        saying so is also shown on the page.
    """
    settings = list(settings)
    declared = st.session_state.setdefault(_PAGES, {}).setdefault(page, {})
    declared.update({s.key: s for s in settings})
    store = _store()
    read = st.session_state.setdefault(_URL_READ, set())
    fresh = [s for s in settings if s.key not in read]
    read.update(s.key for s in fresh)
    ignored = _read_url(page, fresh, store)
    for s in settings:
        if s.key in st.session_state:
            store[s.key] = st.session_state[s.key]
        else:
            st.session_state[s.key] = store.get(s.key, s.default)
    write_url(page)
    if ignored:
        st.warning(
            "Some settings in this link could not be used and were set to their defaults: "
            + "; ".join(ignored)
            + "."
        )
    return ignored


def _read_url(page: str, settings: list[Setting], store: dict[str, Any]) -> list[str]:
    opened_on, params = st.session_state.get(_URL, ("", {}))
    if opened_on != page:
        return []
    ignored = []
    for s in settings:
        name = s.url_name(page)
        if not s.in_url or name not in params:
            continue
        raw = params.get(name, "")
        try:
            value = s.parse(raw)
        except (ValueError, TypeError) as exc:  # untrusted text: any parse failure is a default
            ignored.append(f"{name}={raw[:40]} ({exc})")
            store.pop(s.key, None)
            st.session_state.pop(s.key, None)
            continue
        store[s.key] = value
        st.session_state[s.key] = value
    return ignored


def url_params(page: str) -> dict[str, str]:
    """The query parameters that describe `page` now: its settings that differ from the default."""
    out = {}
    for s in st.session_state.get(_PAGES, {}).get(page, {}).values():
        if not s.in_url:
            continue
        value = st.session_state.get(s.key, _store().get(s.key, s.default))
        if value != s.default:
            out[s.url_name(page)] = s.show(value)
    return out


def write_url(page: str) -> None:
    """Keep `page`'s settings and write them to the URL; call it at the end of every fragment.

    A fragment's rerun does not run app.py or the page's top, and Streamlit drops the widgets of
    the page being left before the next page's run starts, so this is where a value changed inside
    a fragment reaches the store.
    """
    store = _store()
    for s in st.session_state.get(_PAGES, {}).get(page, {}).values():
        if s.key in st.session_state:
            store[s.key] = st.session_state[s.key]
    want = url_params(page)
    if dict(st.query_params.to_dict()) != want:
        st.query_params.from_dict(want)


def reset(page: str) -> None:
    """Forget `page`'s settings (a "Reset" button): every widget goes back to its default."""
    store = _store()
    for s in st.session_state.get(_PAGES, {}).get(page, {}).values():
        store.pop(s.key, None)
        st.session_state[s.key] = s.default

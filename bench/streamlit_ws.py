"""A Streamlit session without a browser: Streamlit's own websocket protocol (`BackMsg` out,
`ForwardMsg` in, as the frontend speaks it) on /_stcore/stream, for the classroom bench's
lightweight clients (loopback only).

What it mirrors of the frontend (Streamlit 1.67): a rerun sends `rerun_script` with the page's
script hash, the query string the app last wrote (cleared on a page switch, as the frontend clears
it when navigating), the widget values this session has set (triggers once only) and the fragment
id when the changed widget lives in a fragment. Widgets are found by their `key=`, which Streamlit
puts at the end of the element id. It draws nothing and caches no messages, so the server sends
every delta in full.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from streamlit.components.v2.bidi_component.main import _make_trigger_id
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

FINISHED_EARLY_FOR_RERUN = ForwardMsg.ScriptFinishedStatus.FINISHED_EARLY_FOR_RERUN
WIDGETS = ("slider", "selectbox", "bidi_component")
MAX_MESSAGE = 64 * 2**20  # a ForwardMsg larger than this is an error, not a hang
QUIET_S = 0.3  # after a run ends, how long a rerun it queued may take to start
RUN_TIMEOUT_S = 180  # a run that has not ended by then raises TimeoutError
SIDEBAR = 1  # RootContainer.SIDEBAR: the first index of a sidebar element's delta path
FINISHED, RUNNING = 1, 2  # what one ForwardMsg says about the run (else 0)


@dataclass
class Widget:
    """The latest element proto of one keyed widget and the fragment that drew it."""

    kind: str
    proto: Any
    fragment_id: str


@dataclass
class Session:
    """One browser-less session; `rerun` is one interaction."""

    ws: ClientConnection
    query: str = ""
    page_hash: str = ""
    pages: dict[str, str] = field(default_factory=dict)  # url_pathname -> page_script_hash
    widgets: dict[str, Widget] = field(default_factory=dict)  # key -> latest element
    values: dict[str, WidgetState] = field(default_factory=dict)  # widget id -> what we set
    errors: int = 0  # exception elements received
    drawn: set[str] = field(default_factory=set)  # widget ids the current run drew
    deltas: int = 0  # deltas received (all runs)
    sidebar_captions: list[str] = field(default_factory=list)  # the latest run's, in the sidebar

    @classmethod
    async def open(cls, base_url: str) -> Session:
        url = base_url.replace("http://", "ws://", 1) + "/_stcore/stream"
        ws = await connect(url, subprotocols=[Subprotocol("streamlit")], max_size=MAX_MESSAGE)
        return cls(ws)

    async def close(self) -> None:
        await self.ws.close()

    def widget(self, key: str) -> Widget:
        return self.widgets[key]

    def value(self, key: str) -> Any:
        """What the page shows in a slider (its first value) or a selectbox (the option)."""
        w = self.widgets[key]
        p = w.proto
        mine = self.values.get(p.id)  # the frontend shows what it sent while the widget lives
        if mine is not None:
            what = mine.WhichOneof("value")
            return (
                mine.double_array_value.data[0]
                if what == "double_array_value"
                else mine.string_value
            )
        if w.kind == "slider":
            return (p.value if p.set_value else p.default)[0]
        if w.kind == "selectbox":
            return p.raw_value if p.set_value else p.options[p.default]
        raise ValueError(f"no value read for a {w.kind}")

    async def load(self, page_name: str = "") -> float:
        """The first run, as a browser opening the app's URL (`page_name`: its path)."""
        msg = BackMsg()
        msg.rerun_script.query_string = self.query
        msg.rerun_script.page_name = page_name
        return await self._run(msg)

    async def open_page(self, url_pathname: str) -> float:
        """A click in the sidebar's page list."""
        self.page_hash = self.pages[url_pathname]
        self.query = ""
        return await self.rerun()

    async def set_slider(self, key: str, value: float) -> float:
        w = self.widget(key)
        st = WidgetState(id=w.proto.id)
        st.double_array_value.data[:] = [value]
        return await self.rerun([st], w.fragment_id)

    async def set_selectbox(self, key: str, option: str) -> float:
        """Pick an option by the text the box shows (Streamlit 1.67 sends that string)."""
        w = self.widget(key)
        return await self.rerun([WidgetState(id=w.proto.id, string_value=option)], w.fragment_id)

    async def trigger(self, key: str, event: str, value: Any) -> float:
        """A `st.components.v2` component's `setTriggerValue(event, value)`."""
        w = self.widget(key)
        st = WidgetState(id=_make_trigger_id(w.proto.id, "events"))
        st.json_trigger_value = json.dumps([{"event": event, "value": value}])
        return await self.rerun([st], w.fragment_id, remember=False)

    async def rerun(
        self, changed: list[WidgetState] = (), fragment_id: str = "", remember: bool = True
    ) -> float:
        """Send a rerun with the widget values set so far plus `changed`; seconds until its
        run (and any it queued) ends."""
        if remember:
            self.values.update({s.id: s for s in changed})
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        cs.page_script_hash = self.page_hash
        cs.fragment_id = fragment_id
        once = [] if remember else list(changed)
        cs.widget_states.widgets.extend([*self.values.values(), *once])
        return await self._run(msg)

    async def _run(self, msg: BackMsg) -> float:
        t0 = time.monotonic()
        await self.ws.send(msg.SerializeToString())
        self.drawn = set()
        self.sidebar_captions = []
        await self._until_finished()
        if not msg.rerun_script.fragment_id:  # the frontend forgets widgets a full run left out
            self.values = {i: v for i, v in self.values.items() if i in self.drawn}
        took = time.monotonic() - t0
        # A run can queue another (st.rerun, a callback): let it end before the next step.
        while True:
            try:
                raw = await asyncio.wait_for(self.ws.recv(), QUIET_S)
            except TimeoutError:
                return took
            if self._take(raw) == RUNNING:
                await self._until_finished()

    async def _until_finished(self) -> None:
        async with asyncio.timeout(RUN_TIMEOUT_S):
            while self._take(await self.ws.recv()) != FINISHED:
                pass

    def _take(self, raw: bytes | str) -> int:
        """Note what one ForwardMsg says; FINISHED when it ends a run for good, RUNNING when a
        run is under way, else 0."""
        fm = ForwardMsg()
        fm.ParseFromString(raw if isinstance(raw, bytes) else raw.encode())
        kind = fm.WhichOneof("type")
        if kind == "script_finished":
            return FINISHED if fm.script_finished != FINISHED_EARLY_FOR_RERUN else RUNNING
        if kind == "session_status_changed" and fm.session_status_changed.script_is_running:
            return RUNNING
        if kind == "navigation":
            nav = fm.navigation
            self.pages = {p.url_pathname: p.page_script_hash for p in nav.app_pages}
            self.page_hash = nav.page_script_hash or self.page_hash
        elif kind == "new_session":
            self.page_hash = fm.new_session.page_script_hash or self.page_hash
        elif kind == "page_info_changed":
            self.query = fm.page_info_changed.query_string
        if kind == "delta":
            self.deltas += 1
        if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
            el = fm.delta.new_element
            what = el.WhichOneof("type")
            if what == "exception":
                self.errors += 1
            elif what == "imgs" and fm.metadata.delta_path[:1] == [SIDEBAR]:
                self.sidebar_captions.extend(i.caption for i in el.imgs.imgs)
            elif what in WIDGETS:
                proto = getattr(el, what)
                key = proto.id.rsplit("-", 1)[-1]  # "$$ID-<hash>-<key>"
                self.widgets[key] = Widget(what, proto, fm.delta.fragment_id)
                self.drawn.add(proto.id)
        return RUNNING if kind == "delta" else 0

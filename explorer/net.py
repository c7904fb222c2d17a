"""Whether a server answers, decided quickly: the check done before anything is downloaded.

Offline, a download would otherwise wait for the resolver or the connection for seconds (and
torch.hub's download has no timeout at all), so the page could not say "no network" at once.
"""

from __future__ import annotations

import socket
import threading

REACH_TIMEOUT_S = 1.0  # how long to wait for a server before saying there is no network


def reachable(host: str, port: int = 443, timeout: float = REACH_TIMEOUT_S) -> str | None:
    """Whether a TCP connection to host:port opens within `timeout` seconds, name lookup included.

    The attempt runs in a daemon thread: a resolver with no network can take seconds to give up,
    and socket timeouts do not cover the lookup.

    Returns:
        None when the server answers, else why not (a few words for a sentence).
    """
    outcome: list[str | None] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(str(exc) or type(exc).__name__)

    worker = threading.Thread(target=attempt, name=f"reach-{host}", daemon=True)
    worker.start()
    worker.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"

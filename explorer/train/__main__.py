"""`python -m explorer.train ...`: see explorer.train.cli."""

import os
import signal
import sys
import threading

# A signal can arrive while torch is still importing (seconds): Ctrl-C in a terminal, or torchrun
# passing one on. Catch it from the first moment, so the run still ends as "stopped" and hands the
# server's lock to the next queued job. (explorer.jobs itself signals only once cli has written its
# ready file.)
_stop = threading.Event()
signal.signal(signal.SIGTERM, lambda _signum, _frame: _stop.set())
signal.signal(signal.SIGINT, lambda _signum, _frame: _stop.set())

from explorer.train.cli import main  # noqa: E402 - after the handlers, on purpose

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(stop=_stop))

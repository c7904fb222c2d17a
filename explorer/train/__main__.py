"""`python -m explorer.train ...`: see explorer.train.cli."""

import os
import signal
import sys
import threading

# A Stop can arrive while torch is still importing (seconds): catch it from the first moment, so
# the run still ends as "stopped" and hands the server's lock to the next queued job.
_stop = threading.Event()
signal.signal(signal.SIGTERM, lambda _signum, _frame: _stop.set())
signal.signal(signal.SIGINT, lambda _signum, _frame: _stop.set())

from explorer.train.cli import main  # noqa: E402 - after the handlers, on purpose

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main(stop=_stop))

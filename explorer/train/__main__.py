"""`python -m explorer.train ...`: see explorer.train.cli."""

import os
import sys

from explorer.train.cli import main

if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())

"""The ytsync command line: import, plan, preview, start, status, pause, resume."""

import sys

from ytsync.cli.app import main

if __name__ == "__main__":
    sys.exit(main())

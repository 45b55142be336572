"""The ytsync command line: import, plan, preview, start, status, pause, resume."""

from ytsync.cli.app import main
from ytsync.cli.exiting import exit_now

if __name__ == "__main__":
    exit_now(main())

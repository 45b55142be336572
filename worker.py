"""The ytsync worker: runs the job workflows and their activities on the task queue
(see ytsync.cli.worker)."""

from ytsync.cli.exiting import exit_now
from ytsync.cli.worker import main

if __name__ == "__main__":
    exit_now(main())

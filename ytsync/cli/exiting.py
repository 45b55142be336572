"""Leave the process with its own exit code, whatever the Temporal client left running.

temporalio's core runtime keeps native threads that can outlive interpreter shutdown
and call back into Python while it is torn down (sdk-python #300): a short command that
used the client then dies at exit with a segfault or "PyGILState_Release" (exit -11 or
-6) after it printed its answer. Scripts read the exit code, so a command ends with
``os._exit`` once its output is flushed: the interpreter's shutdown, where the crash
happens, never runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush what was written, then end the process with ``code`` at once."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # A reader that went away (``| head``) cannot be flushed to; the code still counts.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)

"""ytsync installed on the YouTube emulator: one set-up for the tests, the demo and the
benchmarks (``ytsync_sandbox.sandbox``), the checks of a finished library
(``ytsync_sandbox.invariants``) and the demo engine (``ytsync_sandbox.demo``).

Part of the second distribution (``sandbox/``), never of the product: the worker and
the CLI run without it, and ``starter.py demo`` imports it only when asked to run.
"""

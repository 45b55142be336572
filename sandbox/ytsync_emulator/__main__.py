"""Run the emulator standalone with a sample library.

    python -m ytsync_emulator --port 8090 --videos 500 --playlists 12 --seed 1 \
        [--daily-quota N] [--period-seconds N] [--token-file PATH] [--max-playlists N]
        [--not-found-after-create SECONDS] [--list-lag SECONDS] [--list-lag-jitter SECONDS]
        [--title-refusal badRequest|invalidPlaylistSnippet]
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from .credentials import issue_token_file
from .quota import QuotaPeriods
from .sample import generate_library
from .server import EmulatorServer
from .state import (
    LIST_LAG_JITTER_SECONDS,
    LIST_LAG_SECONDS,
    NOT_FOUND_AFTER_CREATE_SECONDS,
    EmulatorState,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ytsync_emulator",
        description="Serve an in-memory YouTube Data API v3 on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
    parser.add_argument("--videos", type=int, default=500)
    parser.add_argument("--playlists", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--daily-quota", type=int, default=10_000, help="units per period; 0 = unlimited"
    )
    parser.add_argument(
        "--period-seconds",
        type=int,
        default=None,
        help="quota resets every N seconds (default: midnight America/Los_Angeles)",
    )
    parser.add_argument("--timezone", default="America/Los_Angeles")
    parser.add_argument("--access-token-ttl", type=float, default=3600.0)
    parser.add_argument("--playlist-create-limit", type=int, default=None)
    parser.add_argument(
        "--max-playlists",
        type=int,
        default=None,
        help="playlists a channel may have; more is 400 maxPlaylistExceeded",
    )
    parser.add_argument(
        "--not-found-after-create",
        type=float,
        default=NOT_FOUND_AFTER_CREATE_SECONDS,
        metavar="SECONDS",
        help="inserts into a playlist younger than this get 404 playlistNotFound (0: off)",
    )
    parser.add_argument(
        "--list-lag",
        type=float,
        default=LIST_LAG_SECONDS,
        metavar="SECONDS",
        help="list calls show new playlists and items at least this late (0: at once)",
    )
    parser.add_argument(
        "--list-lag-jitter",
        type=float,
        default=LIST_LAG_JITTER_SECONDS,
        metavar="SECONDS",
        help="each list call lags up to this much more than --list-lag, drawn per call",
    )
    parser.add_argument(
        "--title-refusal",
        choices=["badRequest", "invalidPlaylistSnippet"],
        default="badRequest",
        help="the reason a refused playlist title or description gets",
    )
    parser.add_argument(
        "--token-file", default="token.json", help="authorized-user JSON to write (mode 0600)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Handle Ctrl-C/SIGTERM as a plain "stop" from the start: no KeyboardInterrupt
    # traceback, whenever the signal lands.
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    state = EmulatorState(
        quota_clock=QuotaPeriods(timezone=args.timezone, period_seconds=args.period_seconds),
        daily_limit=args.daily_quota or None,
        access_token_ttl=args.access_token_ttl,
        playlist_create_limit_per_period=args.playlist_create_limit,
        max_playlists=args.max_playlists,
        not_found_after_create_seconds=args.not_found_after_create,
        list_lag_seconds=args.list_lag,
        list_lag_jitter_seconds=args.list_lag_jitter,
        title_refusal=args.title_refusal,
        seed=args.seed,
    )
    summary = generate_library(state, videos=args.videos, playlists=args.playlists, seed=args.seed)
    server = EmulatorServer(state, port=args.port)
    try:
        base_url = server.start()
    except OSError as error:
        print(f"cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr)
        return 1
    token_file = issue_token_file(state, args.token_file, base_url=base_url)
    period = (
        f"every {args.period_seconds} s" if args.period_seconds else f"midnight {args.timezone}"
    )
    print(f"YouTube emulator at {base_url}  (token URI {server.token_uri})")
    print(f"  channel {state.channel_id} '{state.channel_title}'")
    print("  " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in summary.items()))
    print(f"  quota: {args.daily_quota or 'unlimited'} units per period, reset {period}")
    lag_max = args.list_lag + args.list_lag_jitter
    print(f"  lists show new playlists and items {args.list_lag:g} to {lag_max:g} s late")
    print(f"  token file: {token_file.resolve()}")
    print(
        f"  env: YTSYNC_YOUTUBE_API_ENDPOINT={base_url} YTSYNC_OAUTH_TOKEN_URI={server.token_uri}"
    )
    print("Ctrl-C to stop.", flush=True)

    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    used = state.quota_used()
    print(f"stopped; {len(state.log)} requests served, {used} quota units used this period")
    return 0


if __name__ == "__main__":
    sys.exit(main())

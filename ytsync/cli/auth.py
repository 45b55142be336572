"""``auth``: sign in to YouTube and store the token the worker and the CLI use."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from ytsync.cli.context import Context

# The address goes on a line of its own, so a person can copy it and a script can read it.
PROMPT = (
    "Open this address in a browser to sign in to YouTube "
    "(waiting for the answer; Ctrl-C to stop):\n{url}"
)
RESUME_HINT = (
    "If a sync job is paused with pause_reason auth_required, sign in again with this "
    "command and then run 'python starter.py resume'."
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    auth = commands.add_parser(
        "auth", help="sign in to YouTube (OAuth) and store the token (YTSYNC_TOKEN_FILE)"
    )
    auth.add_argument(
        "--client-secrets",
        required=True,
        type=Path,
        metavar="FILE",
        help="the OAuth client's JSON from the Google Cloud console (Desktop app)",
    )
    auth.add_argument(
        "--port",
        type=_port,
        default=0,
        help="localhost port that receives Google's answer (default 0: any free port)",
    )
    auth.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the address to open, do not start a browser",
    )
    auth.set_defaults(handler=run_auth)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be between 0 and 65535, not {port}")
    return port


def run_auth(args: argparse.Namespace, ctx: Context) -> int:
    # Here, not at the top: every command would load the OAuth and API client stack.
    from ytsync.auth import (
        TESTING_STATUS_WARNING,
        SignInCancelled,
        SignInFailed,
        check_token_destination,
        load_client_secrets,
        save_token,
        sign_in,
    )
    from ytsync.youtube.client import YouTube
    from ytsync.youtube.errors import classify

    settings = ctx.settings
    # Both checks come before the browser: a sign-in whose token cannot be stored, or
    # a broken client file, must fail at once with nothing written (exit 2).
    secrets = load_client_secrets(args.client_secrets)
    check_token_destination(settings.token_file)
    if secrets.client_type == "web" and args.port == 0:
        ctx.err.print(
            'note: a "web" OAuth client only accepts redirect URIs registered for it; '
            "register http://localhost:PORT/ and pass --port PORT (a Desktop app client "
            "needs neither).",
            markup=False,
            soft_wrap=True,
        )
    if secrets.token_uri != settings.oauth_token_uri:
        ctx.err.print(
            f"note: the client file's token_uri differs from YTSYNC_OAUTH_TOKEN_URI "
            f"({settings.oauth_token_uri}); ytsync refreshes tokens at the latter.",
            markup=False,
            soft_wrap=True,
        )
    # google-auth-oauthlib prints the prompt with print(): on a pipe that would sit in
    # the buffer while the flow waits for the very browser the prompt asks for.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    try:
        signed_in = sign_in(
            secrets, port=args.port, open_browser=not args.no_browser, prompt=PROMPT
        )
    except (KeyboardInterrupt, SignInCancelled) as exc:
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(exc)
        ctx.err.print(
            f"Sign-in cancelled ({reason}); nothing was written.", markup=False, soft_wrap=True
        )
        return 130
    except SignInFailed as exc:
        ctx.err.print(f"error: {exc}; nothing was written.", markup=False, soft_wrap=True)
        return 1
    save_token(settings.token_file, signed_in)
    ctx.out.print(
        f"Saved the sign-in to {settings.token_file} (readable by you only).",
        markup=False,
        soft_wrap=True,
    )
    # One cheap call (channels.list, 1 unit) proves the token works with the API.
    try:
        channel = YouTube(settings).my_channel()
    except Exception as exc:
        failure = classify(exc)
        detail = failure.describe() if failure is not None else f"{type(exc).__name__}: {exc}"
        ctx.err.print(
            f"error: the new sign-in did not work with YouTube: {detail}",
            markup=False,
            soft_wrap=True,
        )
        return 1
    if channel is None:
        ctx.err.print(
            "error: this Google account has no YouTube channel; sign in with the account "
            "that owns the playlists.",
            markup=False,
            soft_wrap=True,
        )
        return 1
    title = channel.get("snippet", {}).get("title") or channel.get("id", "?")
    ctx.out.print(f"Signed in to the YouTube channel: {title}", markup=False, soft_wrap=True)
    ctx.out.print()
    if signed_in.expires is not None:
        ctx.out.print(
            f"Google says this sign-in ends at {signed_in.expires} (UTC): a job still running "
            "then pauses until you sign in again (the worker notifies you a week before).",
            markup=False,
            soft_wrap=True,
        )
    ctx.out.print(TESTING_STATUS_WARNING, markup=False, soft_wrap=True)
    ctx.out.print(RESUME_HINT, markup=False, soft_wrap=True)
    return 0

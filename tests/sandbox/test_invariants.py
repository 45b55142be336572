"""The fault suite's invariants judge a video unavailable exactly when YouTube (the
emulator) refuses to add it: a check stricter than the product's rule fails correct
runs, a looser one lets wrong ones pass."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from ytsync_emulator.api import TOKEN_PATH, handle
from ytsync_emulator.sample import sample_plan_rows
from ytsync_emulator.state import EmulatorState
from ytsync_sandbox.invariants import unavailable_reason
from ytsync_sandbox.sandbox import sample_library


def _access_token(state: EmulatorState) -> str:
    client_id, client_secret, refresh_token = state.issue_credentials()
    form = urlencode(
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        }
    )
    reply = handle(state, "POST", TOKEN_PATH, "", form.encode(), None)
    assert reply.status == 200 and reply.body is not None, reply.body
    return str(reply.body["access_token"])


def _refusal(state: EmulatorState, token: str, playlist_id: str, video_id: str) -> str | None:
    """The reason the emulator refuses adding the video, None when it adds it."""
    body = {
        "snippet": {
            "playlistId": playlist_id,
            "resourceId": {"kind": "youtube#video", "videoId": video_id},
        }
    }
    reply = handle(
        state,
        "POST",
        "/youtube/v3/playlistItems",
        "part=snippet",
        json.dumps(body).encode(),
        f"Bearer {token}",
    )
    if reply.status < 300:
        return None
    assert reply.body is not None
    return str(reply.body["error"]["errors"][0]["reason"])


def _agree(state: EmulatorState, video_ids: list[str]) -> None:
    token = _access_token(state)
    playlist = state.add_playlist("Probe")
    for vid in video_ids:
        refused = _refusal(state, token, playlist.id, vid)
        reason = unavailable_reason(state.videos.get(vid), state.channel_id)
        if refused is None:
            assert reason is None, f"{vid}: added by YouTube, judged unavailable ({reason})"
        else:
            assert reason is not None, f"{vid}: refused ({refused}), judged available"
            assert refused in reason, f"{vid}: refused with {refused}, expected one of {reason}"


def test_unavailable_means_refused_by_youtube() -> None:
    state = EmulatorState(seed=3)
    public = state.add_video(title="public").id
    unlisted = state.add_video(title="unlisted", privacy="unlisted").id
    deleted = state.add_video(title="gone", deleted=True).id
    theirs = state.add_video(title="their secret", privacy="private").id
    mine = state.add_video(title="my secret", privacy="private", own=True).id
    my_deleted = state.add_video(title="my gone", privacy="private", own=True, deleted=True).id
    assert unavailable_reason(state.videos[mine], state.channel_id) is None
    assert unavailable_reason(state.videos[theirs], state.channel_id) == (
        "private",
        "failedPrecondition",
    )
    _agree(state, [public, unlisted, deleted, theirs, mine, my_deleted, "neverExisted"])


def test_fault_seed_11_plans_an_own_private_upload_the_checks_want_added() -> None:
    """Seed 11's sample library (the fault suite's size) plans the channel's own private
    upload iyP_SpG3Zqm in 'Nature': YouTube adds it, so the checks must want it there."""
    state = sample_library(videos=200, playlists=6, seed=11, unavailable_fraction=0.04)
    rows = sample_plan_rows(state, 11)
    assert ("Nature", "iyP_SpG3Zqm", False) in rows
    video = state.videos["iyP_SpG3Zqm"]
    assert (video.privacy, video.owner_channel_id) == ("private", state.channel_id)
    _agree(state, sorted({vid for _category, vid, _protected in rows}))

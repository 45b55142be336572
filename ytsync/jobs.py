"""Sync job rows: the stages, and which of them mean "a job is running"."""

from __future__ import annotations

STAGES = (
    "pending",
    "backup",
    "create_playlists",
    "add_videos",
    "delete_playlists",
    "restore_playlists",
    "restore_items",
    "paused",
    "completed",
    "failed",
)
WORK_STAGES = ("backup", "create_playlists", "add_videos", "delete_playlists")
FINAL_STAGES = ("completed", "failed")
ACTIVE_STAGES = tuple(s for s in STAGES if s not in FINAL_STAGES)

"""``schedule create | list | pause | unpause | trigger | delete`` through the command
line, each seen on a real Temporal dev server; a triggered run reads the emulator and
``status`` and ``report --organize`` show what it found: the first run of the rules
previews, the next one moves."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    ScheduleActionStartWorkflow,
    ScheduleOverlapPolicy,
)
from temporalio.service import RPCError, RPCStatusCode

from tests.support.harness import Installation, install, running_worker
from tests.support.organize import new_videos, rules_for, synced
from tests.support.waiting import eventually
from ytsync.cli.app import main
from ytsync.devserver import running_dev_server
from ytsync.organize.wire import ORGANIZE_WORKFLOW
from ytsync_emulator.clock import utc_now


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.timeout(240)
def test_the_schedule_commands_drive_a_temporal_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database_url = f"sqlite:///{tmp_path / 'ytsync.db'}"
    inst: Installation = install(tmp_path, database_url, utc_now, videos=300, playlists=6, seed=3)
    categories = synced(inst)
    saved = new_videos(inst, "saved")
    inbox = inst.state.add_playlist("Inbox", video_ids=[v.id for v in saved.short + saved.other])
    rules = tmp_path / "rules.toml"
    rules.write_text(rules_for(categories), encoding="utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text('[[rule]]\ncategory = "A"\ntitle = "x"\n', encoding="utf-8")
    for name in list(os.environ):
        if name.startswith(("YTSYNC_", "TEMPORAL_")):
            monkeypatch.delenv(name)
    for name, value in {
        "YTSYNC_DATABASE_URL": database_url,
        "YTSYNC_YOUTUBE_API_ENDPOINT": inst.settings.youtube_api_endpoint,
        "YTSYNC_TOKEN_FILE": str(inst.settings.token_file),
        "YTSYNC_OAUTH_TOKEN_URI": inst.settings.oauth_token_uri,
        "YTSYNC_TASK_QUEUE": inst.settings.task_queue,
    }.items():
        monkeypatch.setenv(name, value)

    async def scenario() -> None:
        async with running_dev_server(db_file=tmp_path / "temporal.db", headless=True) as server:
            monkeypatch.setenv("YTSYNC_TEMPORAL_ADDRESS", server.address)
            monkeypatch.setenv("YTSYNC_TEMPORAL_NAMESPACE", server.namespace)
            client = await Client.connect(server.address, namespace=server.namespace)

            async def run(*argv: str) -> tuple[int, str, str]:
                return await asyncio.to_thread(cli, capsys, *argv)

            # Refused before anything reaches Temporal.
            code, _out, err = await run(
                "schedule", "create", "--every", "1d", "--rules", str(plain)
            )
            assert code == 2 and "names no source for a schedule" in flat(err)
            code, _out, err = await run("schedule", "pause")
            assert code == 2 and "has no organize schedule" in flat(err)

            code, out, _err = await run(
                "schedule", "create", "--every", "1d", "--rules", str(rules), "--json"
            )
            assert code == 0
            created = json.loads(out)
            sid = created["schedule_id"]
            assert sid == f"ytsync-organize-{inst.settings.channel}"
            # The default: the first run of the rules is a preview, the later ones write.
            assert created["spec"] == "every 1d"
            assert (created["dry_run"], created["preview_first"]) == (False, True)
            handle = client.get_schedule_handle(sid)
            described = await handle.describe()
            assert described.schedule.spec.intervals[0].every == timedelta(days=1)
            assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
            action = described.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert action.workflow == ORGANIZE_WORKFLOW
            assert action.task_queue == inst.settings.task_queue

            code, _out, err = await run(
                "schedule", "create", "--cron", "0 3 * * *", "--rules", str(rules)
            )
            assert code == 2 and "has an organize schedule already" in flat(err)

            code, out, _err = await run("schedule", "list", "--json")
            listed = json.loads(out)
            assert [s["schedule_id"] for s in listed] == [sid]
            assert listed[0]["next_runs"] and listed[0]["paused"] is False

            assert (await run("schedule", "pause"))[0] == 0
            assert (await handle.describe()).schedule.state.paused is True
            assert (await run("schedule", "unpause"))[0] == 0
            assert (await handle.describe()).schedule.state.paused is False

            async with running_worker(client, inst, utc_now):
                code, out, _err = await run("schedule", "trigger")
                assert code == 0 and f"Triggered a run of {sid}" in flat(out)

                async def one_run() -> bool:
                    return len((await handle.describe()).info.recent_actions) == 1

                await eventually(one_run, "the triggered run", 60)
                started = (await handle.describe()).info.recent_actions[0].action
                workflow_id = getattr(started, "workflow_id", "")
                assert workflow_id.startswith(sid)
                result = await client.get_workflow_handle(workflow_id).result()
                assert result["summary"].startswith("organize (preview): 2 to move")

            code, out, _err = await run("status")
            assert code == 0
            shown = flat(out)
            assert f"Schedule {sid} (active): every 1d" in shown
            assert "next run: " in shown
            assert "last run: " in shown and "organize (preview): 2 to move" in shown

            code, out, _err = await run("report", "--organize", "--json")
            report = json.loads(out)
            assert report["run"]["workflow_id"] == workflow_id
            unmatched = {v["video_id"]: v["source"] for v in report["unmatched"]}
            # The saved videos no rule takes, and the channel's older uploads (the rules
            # read the uploads too).
            assert {v.id for v in saved.other} <= set(unmatched)
            assert all(
                source == "uploads"
                for vid, source in unmatched.items()
                if vid not in {v.id for v in saved.other}
            )
            code, out, _err = await run("report", "--organize")
            assert f"Unmatched: {len(unmatched)} videos stay where they are" in flat(out)

            # The second run of the same rules writes: the inbox's videos move.
            async with running_worker(client, inst, utc_now):
                code, out, _err = await run("schedule", "trigger")
                assert code == 0

                async def two_runs() -> bool:
                    return len((await handle.describe()).info.recent_actions) == 2

                await eventually(two_runs, "the second triggered run", 60)
                started = (await handle.describe()).info.recent_actions[-1].action
                second = getattr(started, "workflow_id", "")
                result = await client.get_workflow_handle(second).result()
                assert result["summary"].startswith("organize: 2 moved")
            assert inst.state.playlist_items(inbox.id) == [v.id for v in saved.other]
            code, out, _err = await run("status")
            assert "last run: " in flat(out) and "organize: 2 moved" in flat(out)
            code, out, _err = await run("report", "--organize", "--json")
            report = json.loads(out)
            assert report["run"]["workflow_id"] == second
            moved = {v["video_id"] for v in report["videos"] if v["outcome"] == "moved"}
            assert moved == {v.id for v in saved.short}

            code, out, _err = await run("schedule", "delete")
            assert code == 0 and f"Deleted {sid}" in out
            with pytest.raises(RPCError) as gone:
                await handle.describe()
            assert gone.value.status == RPCStatusCode.NOT_FOUND
            code, out, _err = await run("schedule", "list")
            assert "No organize schedule." in out

            # Changed rules show what they place differently before they take effect.
            short, recipe = sorted(categories)[:2]
            changed = tmp_path / "changed.toml"
            changed.write_text(
                rules.read_text(encoding="utf-8").replace(f'"{short}"', f'"{recipe}"'),
                encoding="utf-8",
            )
            code, out, _err = await run(
                "schedule", "create", "--every", "1d", "--rules", str(changed), "--dry-run"
            )
            assert code == 0
            assert "placed differently" in flat(out) and saved.short[0].id in out
            code, out, _err = await run("schedule", "delete", "--json")
            code, out, _err = await run(
                "schedule", "create", "--every", "1d", "--rules", str(changed), "--json"
            )
            change = json.loads(out)["rules_change"]
            assert change["workflow_id"] == second
            moved_by_rules = {v["video_id"]: (v["before"], v["after"]) for v in change["changed"]}
            assert {v.id: (short, recipe) for v in saved.short}.items() <= moved_by_rules.items()
            assert (await run("schedule", "delete"))[0] == 0

    try:
        asyncio.run(scenario())
    finally:
        inst.server.stop()

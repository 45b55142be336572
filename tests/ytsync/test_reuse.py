"""The reuse strategy's cost model and assignment (ytsync.reuse): exact, small cases."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence

import pytest

from ytsync.quota import WRITE_COST
from ytsync.reuse import (
    CategorySpec,
    OldPlaylist,
    Writes,
    keep_playlist,
    out_of_plan_order,
    plan_reuse,
    saving,
)


def cat(cid: int, name: str, videos: str | Sequence[str], **extra: object) -> CategorySpec:
    """A category; a string of letters is one video per letter."""
    return CategorySpec(id=cid, name=name, video_ids=tuple(videos), **extra)  # type: ignore[arg-type]


def old(
    pid: int,
    title: str,
    videos: str | Sequence[str],
    *,
    privacy: str = "private",
    description: str = "",
    special: bool = False,
) -> OldPlaylist:
    return OldPlaylist(
        id=pid,
        youtube_id=f"PL{pid}",
        title=title,
        description=description,
        privacy=privacy,
        video_ids=tuple(videos),
        special=special,
    )


def greedy_saving(categories: Sequence[CategorySpec], playlists: Sequence[OldPlaylist]) -> int:
    """What "largest saving first" would save: the rule the module does not use."""
    pairs = sorted(
        ((s, c.id, p.id) for c in categories for p in playlists if (s := saving(c, p) or 0) > 0),
        reverse=True,
    )
    used_c: set[int] = set()
    used_p: set[int] = set()
    total = 0
    for s, c, p in pairs:
        if c not in used_c and p not in used_p:
            used_c.add(c)
            used_p.add(p)
            total += s
    return total


def best_saving(categories: Sequence[CategorySpec], playlists: Sequence[OldPlaylist]) -> int:
    """The optimum by brute force over every matching (small inputs only)."""
    if not categories:
        return 0
    first, rest = categories[0], categories[1:]
    best = best_saving(rest, playlists)  # the first category keeps nothing
    for i, playlist in enumerate(playlists):
        s = saving(first, playlist)
        if s is not None and s > 0:
            best = max(best, s + best_saving(rest, [*playlists[:i], *playlists[i + 1 :]]))
    return best


def test_identity_renamed_keeps_every_playlist_for_one_update_each() -> None:
    playlists = [old(10, "Cooking", "abcd"), old(11, "Travel", "efg"), old(12, "Music", "hij")]
    # The plan `plan export` writes, with every category renamed.
    categories = [cat(i + 1, p.title + " (sorted)", p.video_ids) for i, p in enumerate(playlists)]
    plan = plan_reuse(categories, playlists)
    assert plan.kept == {1: 10, 2: 11, 3: 12}
    assert plan.reuse == Writes(updates=3)
    assert plan.rebuild == Writes(creates=3, adds=10, playlist_deletes=3)
    assert plan.deleted_playlists == ()
    assert plan.out_of_order == 0
    assert (plan.reuse.units, plan.rebuild.units) == (3 * WRITE_COST, 16 * WRITE_COST)
    # Not renamed at all: nothing to write.
    same = [cat(i + 1, p.title, p.video_ids) for i, p in enumerate(playlists)]
    assert plan_reuse(same, playlists).reuse == Writes()


def test_merge_keeps_the_playlist_with_the_largest_overlap() -> None:
    playlists = [old(1, "Baking", "abcde"), old(2, "Bread", "fghijklm"), old(3, "Cakes", "nop")]
    merged = cat(7, "Cooking", "abcdefghijklmnop")
    plan = plan_reuse([merged], playlists)
    assert plan.kept == {7: 2}
    assert plan.deleted_playlists == (1, 3)
    (only,) = plan.categories
    assert only.kept is not None
    assert only.kept.missing == tuple("abcdenop")  # appended in plan order
    assert only.reuse == Writes(updates=1, adds=8)
    assert plan.reuse == Writes(updates=1, adds=8, playlist_deletes=2)
    assert plan.rebuild == Writes(creates=1, adds=16, playlist_deletes=3)
    # The kept items a..e come after f..m on YouTube: 5 of them sit out of plan order.
    assert plan.out_of_order == 5


def test_optimal_assignment_where_greedy_is_not() -> None:
    # Videos a-d are planned into both categories.  Keeping P1 for C1 saves the most of
    # any pair (5), but then C2 can only keep P2, which saves nothing: greedy saves 5.
    # P2 for C1 (4) and P1 for C2 (3) save 7.
    c1, c2 = cat(1, "C1", "abcdefgh"), cat(2, "C2", "abcdf")
    p1, p2 = old(1, "P1", "abcdex"), old(2, "P2", "fgh")
    assert [saving(c, p) for c in (c1, c2) for p in (p1, p2)] == [5, 4, 3, 0]
    assert greedy_saving([c1, c2], [p1, p2]) == 5
    plan = plan_reuse([c1, c2], [p1, p2])
    assert plan.kept == {1: 2, 2: 1}
    assert plan.rebuild.total - plan.reuse.total == 7
    assert plan.reuse == Writes(updates=2, adds=6, item_deletes=2)


@pytest.mark.parametrize("seed", range(40))
def test_random_reshuffle_is_optimal_and_never_costs_more(seed: int) -> None:
    rng = random.Random(seed)
    videos = [f"v{i}" for i in range(rng.randint(4, 14))]
    playlists = [
        old(
            pid,
            rng.choice(["A", "B", "C", "D"]),
            rng.choices(videos, k=rng.randint(0, 8)),  # duplicates and empty lists too
            privacy=rng.choice(["private", "public"]),
        )
        for pid in range(rng.randint(1, 4))
    ]
    categories = [
        cat(
            cid,
            rng.choice(["A", "B", "C", "D"]),
            rng.sample(videos, rng.randint(0, len(videos))),  # overlapping categories
            protected=rng.random() < 0.2,
            privacy=rng.choice(["private", "public"]),
        )
        for cid in range(rng.randint(1, 4))
    ]
    plan = plan_reuse(categories, playlists)
    assert plan.reuse.total <= plan.rebuild.total
    assert plan.rebuild.total - plan.reuse.total == best_saving(categories, playlists)
    # The matrix's arithmetic agrees with the writes spelled out for each kept playlist.
    for entry in plan.categories:
        if entry.kept is not None:
            category = next(c for c in categories if c.id == entry.category_id)
            playlist = next(p for p in playlists if p.id == entry.kept.playlist_id)
            assert saving(category, playlist) == entry.rebuild.total + 1 - entry.reuse.total


def test_a_playlist_that_saves_nothing_is_not_kept() -> None:
    # Keeping it: rename, add x and y, delete g and h = 5 writes; rebuilding: create,
    # add f x y, delete it = 5 writes.
    category, playlist = cat(1, "New", "fxy"), old(1, "Old", "fgh")
    assert saving(category, playlist) == 0
    plan = plan_reuse([category], [playlist])
    assert plan.kept == {}
    assert plan.reuse == plan.rebuild == Writes(creates=1, adds=3, playlist_deletes=1)


def test_protected_categories_and_system_lists_are_never_reused() -> None:
    liked = old(1, "Liked videos", "abc", special=True)
    favourites = old(2, "Favourites", "def")
    categories = [cat(1, "Liked videos", "abc"), cat(2, "Favourites", "def", protected=True)]
    assert saving(categories[0], liked) is None
    assert saving(categories[1], favourites) is None
    plan = plan_reuse(categories, [liked, favourites])
    assert plan.kept == {}
    # The system list is neither kept nor deleted; the protected category gets nothing.
    assert plan.deleted_playlists == (2,)
    assert plan.categories[1].reuse == plan.categories[1].rebuild == Writes()
    assert plan.reuse == plan.rebuild == Writes(creates=1, adds=3, playlist_deletes=1)


def test_ties_are_broken_by_id_whatever_the_input_order() -> None:
    # Two copies of one playlist: the lower id is kept.
    twins = [old(7, "Old", "abc"), old(3, "Old", "abc")]
    assert plan_reuse([cat(1, "New", "abc")], twins).kept == {1: 3}
    # One playlist equally good for two categories: the lower category id keeps it.
    pair = [cat(5, "X", "abc"), cat(2, "Y", "abc")]
    assert plan_reuse(pair, [old(1, "Old", "abc")]).kept == {2: 1}
    # An empty playlist saves one write for any category (a rename for a create and a
    # delete); an unrelated one-item playlist saves none.  The lowest category id wins.
    categories = [cat(3, "Z", "c"), cat(1, "X", "a"), cat(2, "Y", "b")]
    assert plan_reuse(categories, [old(4, "Old", "q"), old(5, "Old", "")]).kept == {1: 5}
    # Two of each, all alike: the same answer for every order of the input.
    categories = [cat(5, "X", "abcd"), cat(2, "Y", "abcd")]
    playlists = [old(8, "Old", "abcd"), old(4, "Old", "abcd")]
    answers = {
        tuple(sorted(plan_reuse(cs, ps).kept.items()))
        for cs in itertools.permutations(categories)
        for ps in itertools.permutations(playlists)
    }
    assert len(answers) == 1


def test_duplicates_in_an_old_playlist_count_as_item_deletes() -> None:
    playlist = old(1, "Mix", "abacab")
    plan = plan_reuse([cat(1, "Mix", "abc")], [playlist])
    (entry,) = plan.categories
    assert entry.kept is not None
    # The first copy of each video stays; every later copy goes.
    assert entry.kept.removed_positions == (2, 4, 5)
    assert entry.reuse == Writes(item_deletes=3)
    assert plan.rebuild == Writes(creates=1, adds=3, playlist_deletes=1)


def test_items_not_planned_into_the_category_are_deleted_and_unavailable_ones_stay() -> None:
    # z is planned but unavailable (deleted): never added, and its item stays.
    category = cat(1, "Mix", "abc", unavailable_ids=frozenset("z"))
    kept = keep_playlist(category, old(1, "Mix", "azxbq"))
    assert kept.removed_positions == (2, 4)  # x and q: planned elsewhere or nowhere
    assert kept.missing == ("c",)
    assert saving(category, old(1, "Mix", "azxbq")) == 2 + 2 * 2 + 1 - 5


def test_out_of_plan_order_counts_the_items_outside_the_longest_run_in_order() -> None:
    assert out_of_plan_order(list("abcde"), "abcde") == 0
    assert out_of_plan_order(list("cabed"), "abcde") == 2  # a b d (or a b e) stay put
    assert out_of_plan_order(list("edcba"), "abcde") == 4
    # A kept playlist c a x b: x goes, d is appended -> c a b d, where only c is out.
    plan = plan_reuse([cat(1, "New", "abcd")], [old(1, "Old", "caxb")])
    (entry,) = plan.categories
    assert entry.kept is not None
    assert entry.kept.missing == ("d",)
    assert entry.kept.out_of_order == plan.out_of_order == 1


def test_privacy_and_description_differences_cost_an_update() -> None:
    playlist = old(1, "Music", "abc", privacy="public", description="Mine.")
    same = cat(1, "Music", "abc", privacy="public")
    assert keep_playlist(same, playlist).update is False  # description None: kept as is
    assert saving(same, playlist) == 5
    for differs in (
        cat(1, "Music", "abc"),  # private by default
        cat(1, "Music", "abc", privacy="unlisted"),
        cat(1, "Music", "abc", privacy="public", description="Songs."),
        cat(1, "Music!", "abc", privacy="public"),
    ):
        assert keep_playlist(differs, playlist).update is True
        assert saving(differs, playlist) == 4
    matching = cat(1, "Music", "abc", privacy="public", description="Mine.")
    assert keep_playlist(matching, playlist).update is False
    assert plan_reuse([cat(1, "Music", "abc")], [playlist]).reuse == Writes(updates=1)


def test_a_playlist_that_would_outgrow_youtubes_limit_is_not_kept() -> None:
    # Its old items stay until the adds are verified: 4,000 + 1,500 > 5,000 at once.
    have = [f"h{i:04}" for i in range(4_000)]
    planned = have[:3_000] + [f"n{i:04}" for i in range(1_500)]
    playlist = old(1, "Big", have)
    assert saving(cat(1, "Big", planned), playlist) is None
    assert plan_reuse([cat(1, "Big", planned)], [playlist]).kept == {}
    # 4,000 + 1,000 = 5,000 fits.
    fits = have[:3_000] + [f"n{i:04}" for i in range(1_000)]
    assert plan_reuse([cat(1, "Big", fits)], [playlist]).kept == {1: 1}


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="planned twice"):
        cat(1, "A", "aba")
    with pytest.raises(ValueError, match="privacy 'secret'"):
        cat(1, "A", "ab", privacy="secret")
    with pytest.raises(ValueError, match="category id 1 appears twice"):
        plan_reuse([cat(1, "A", "a"), cat(1, "B", "b")], [])
    with pytest.raises(ValueError, match="old playlist id 4 appears twice"):
        plan_reuse([], [old(4, "A", "a"), old(4, "B", "b")])


def test_nothing_to_plan() -> None:
    plan = plan_reuse([], [])
    assert plan.categories == () and plan.kept == {}
    assert plan.reuse == plan.rebuild == Writes()
    # No old playlist: every category is a new one, as with rebuild.
    plan = plan_reuse([cat(1, "A", "ab")], [])
    assert plan.reuse == plan.rebuild == Writes(creates=1, adds=2)

"""Choosing an issue's posts (pure) and freezing them exactly."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.mail.issues import (
    IssuePlan,
    PostHistory,
    issue_marks,
    new_posts,
    plan_issue,
    posts_for,
)
from fieldfeed.model import Issue, Post, Subscriber, Tag
from fieldfeed.store import issues as store_issues
from fieldfeed.store import open_store
from fieldfeed.store.issues import Variant
from fieldfeed.store.postjson import dump_posts, load_posts, post_from_dict, post_to_dict

NOW = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)


def post(days_ago: float, slug: str, tags: tuple[str, ...] = (), tz: timezone = UTC) -> Post:
    date = (NOW - timedelta(days=days_ago)).astimezone(tz)
    return Post(
        source=f"content/posts/{slug}.md",
        slug=slug,
        title=f"Title {slug} – “quoted” & <b>",
        date=date,
        updated=date + timedelta(hours=1),
        tags=tuple(Tag(t.title(), t) for t in tags),
        summary="Summary.",
        html="<p>Body ünïcode</p>",
        url=f"https://example.org/posts/{slug}/",
        id=f"https://example.org/posts/{slug}/",
        author=None,
        image=None,
        draft=False,
        word_count=120,
        read_minutes=1,
    )


POSTS = (post(1, "a", ("go",)), post(3, "b", ("sql",)), post(10, "c", ("go", "sql")), post(40, "d"))


def plan(posts: tuple[Post, ...] = POSTS, history: PostHistory | None = None, **kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "last_number": 0,
        "last_created": None,
        "now": NOW,
        "max_posts": 20,
        "first_window_days": 30,
    }
    args.update(kw)
    return plan_issue(posts, history or PostHistory(), **args)  # type: ignore[arg-type]


def after(issue: IssuePlan, history: PostHistory | None = None) -> PostHistory:
    """The history once ``issue`` is frozen (rows numbered as the store would)."""
    old = history or PostHistory()
    marks, replaces = issue_marks(issue, old)
    kept = [m for m in old.marks if m.row not in replaces]
    start = max((m.row or 0 for m in old.marks), default=0)
    rows = [dataclasses.replace(m, row=start + i + 1) for i, m in enumerate(marks)]
    return PostHistory.from_marks([*kept, *rows])


# Issue 10 replaced the date window ("posts dated after the previous cutoff") with "posts in no
# earlier issue": the old tests of the window (previous cutoff to now, max_posts keeps the
# newest and drops the rest) became the tests below.


def test_first_issue_covers_the_first_window_newest_first() -> None:
    p = plan()
    assert p is not None and p.number == 1 and p.cutoff == NOW
    assert [x.slug for x in p.posts] == ["a", "b", "c"]
    # d is 40 days old: the archive the list starts with, not "held back" (nothing to report)
    assert [x.slug for x in p.archive] == ["d"] and p.held == ()


def test_a_post_dated_before_the_last_issue_but_added_after_it_goes_into_the_next() -> None:
    first = plan(now=NOW - timedelta(days=2))
    assert first is not None and [x.slug for x in first.posts] == ["b", "c"]
    history = after(first)
    # "a" is dated 1 day ago, after issue #1; "late" is dated 4 days ago, *before* issue #1,
    # but its file appeared after the send: the date rule of old left it out of every issue.
    late = post(4, "late")
    p = plan((*POSTS, late), history, last_number=1, last_created=NOW - timedelta(days=2))
    assert p is not None and p.number == 2
    assert [x.slug for x in p.posts] == ["a", "late"]
    assert plan((*POSTS, late), after(p, history), last_number=2, last_created=NOW) is None


def test_nothing_new_and_future_posts_make_no_issue() -> None:
    first = plan()
    assert first is not None
    assert plan(history=after(first), last_number=1, last_created=NOW) is None
    assert plan((post(-1, "future"),)) is None


def test_max_posts_sends_the_oldest_and_carries_the_rest_whatever_their_age() -> None:
    p = plan(max_posts=2)
    assert p is not None and [x.slug for x in p.posts] == ["b", "c"] and p.left_out == 1
    assert [x.slug for x in p.carried] == ["a"]
    # Sixty days later "a" is far older than the window: carried posts still go next.
    later = NOW + timedelta(days=60)
    nxt = plan(history=after(p), last_number=1, last_created=later - timedelta(days=1), now=later)
    assert nxt is not None and [x.slug for x in nxt.posts] == ["a"] and nxt.left_out == 0


def test_a_back_dated_import_is_held_back_until_included() -> None:
    first = plan()
    assert first is not None
    history = after(first)
    old = post(200, "imported-2026")  # added after issue #1, dated long before its window
    fresh = post(0.5, "fresh")
    p = plan((*POSTS, old, fresh), history, last_number=1, last_created=NOW - timedelta(days=1))
    assert p is not None and [x.slug for x in p.posts] == ["fresh"]
    assert [x.slug for x in p.held] == ["imported-2026"]
    history = after(p, history)
    # Still held at the next issue (reported again), and sent with include_old.
    p3 = plan((*POSTS, old, fresh), history, last_number=2, last_created=NOW)
    assert p3 is None
    found = new_posts((*POSTS, old, fresh), history, since=NOW - timedelta(days=30), now=NOW)
    assert [x.slug for x in found.held] == ["imported-2026"] and found.new == ()
    p3 = plan((*POSTS, old, fresh), history, last_number=2, last_created=NOW, include_old=True)
    assert p3 is not None and [x.slug for x in p3.posts] == ["imported-2026"]


def test_a_post_whose_id_changed_is_not_mailed_again() -> None:
    first = plan()
    assert first is not None
    history = after(first)
    a = POSTS[0]
    renamed = dataclasses.replace(  # file renamed: new slug, source, permalink and id
        a, slug="a2", source="content/posts/a2.md", url="https://example.org/a2/", id="x:a2"
    )
    new_id = dataclasses.replace(a, id="urn:uuid:1")  # same file, an `id:` added
    retitled = dataclasses.replace(a, id="x:a3", title="New title")  # same file, new title
    for changed in (renamed, new_id, retitled):
        assert plan((changed,), history, last_number=1, last_created=NOW) is None


def test_the_marks_replace_a_carried_row_once_it_is_sent() -> None:
    p = plan(max_posts=2)
    assert p is not None
    history = after(p)
    carried = history.find(POSTS[0])
    assert carried is not None and carried.status == "carried" and history.baseline
    nxt = plan(history=history, last_number=1, last_created=NOW)
    assert nxt is not None
    marks, replaces = issue_marks(nxt, history)
    assert replaces == (carried.row,)
    assert [(m.post_id, m.status, m.issue) for m in marks] == [(POSTS[0].id, "sent", 2)]


def test_tag_filter() -> None:
    gopher = Subscriber(1, "g@example.org", "", ("go",), "active", NOW)
    nobody = Subscriber(2, "n@example.org", "", ("rust",), "active", NOW)
    everyone = Subscriber(3, "e@example.org", "", (), "active", NOW)
    assert [p.slug for p in posts_for(gopher, POSTS)] == ["a", "c"]
    assert posts_for(nobody, POSTS) == ()
    assert posts_for(everyone, POSTS) == POSTS


@given(
    st.floats(min_value=0, max_value=400, allow_nan=False),
    st.integers(min_value=-12, max_value=14),
    st.lists(st.sampled_from(["go", "sql", "ops"]), max_size=3, unique=True),
)
def test_posts_round_trip_exactly(days: float, hours: int, tags: list[str]) -> None:
    p = post(days, "x", tuple(tags), timezone(timedelta(hours=hours)))
    assert post_from_dict(post_to_dict(p)) == p
    back = load_posts(dump_posts([p]))[0]
    assert back == p and back.date.utcoffset() == p.date.utcoffset()


def test_frozen_issue_reads_back_identically(tmp_path: Path) -> None:
    engine = open_store(f"sqlite:///{tmp_path}/db.sqlite")
    issue = Issue(number=1, cutoff=NOW, created=NOW, posts=POSTS[:3])
    rendered = {"subject": "S", "html": "<p>h</p>", "text": "t", "post_ids": ["a"], "collapsed": 0}
    with engine.begin() as conn:
        store_issues.insert_issue(conn, issue, [Variant(0, ("a",), rendered)])
    with engine.connect() as conn:
        back, variants = store_issues.load_issue(conn, 1)
        assert store_issues.open_issue(conn) is not None
    assert back == issue
    assert variants[0].rendered == rendered and variants[0].post_ids == ("a",)
    with engine.begin() as conn:
        store_issues.complete(conn, 1, NOW)
    with engine.connect() as conn:
        assert store_issues.open_issue(conn) is None
        assert store_issues.last_issue(conn).status == "complete"  # type: ignore[union-attr]

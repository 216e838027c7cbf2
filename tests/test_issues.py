"""Choosing an issue's posts (pure) and freezing them exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.mail.issues import plan_issue, posts_for
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


def plan(**kw: object):  # type: ignore[no-untyped-def]
    args: dict[str, object] = {
        "last_number": 0,
        "previous_cutoff": None,
        "now": NOW,
        "max_posts": 20,
        "first_window_days": 30,
    }
    args.update(kw)
    return plan_issue(POSTS, **args)  # type: ignore[arg-type]


def test_first_issue_covers_the_first_window_newest_first() -> None:
    p = plan()
    assert p is not None and p.number == 1 and p.cutoff == NOW
    assert [x.slug for x in p.posts] == ["a", "b", "c"]  # d is 40 days old
    assert p.since == NOW - timedelta(days=30)


def test_next_issue_window_is_previous_cutoff_to_now() -> None:
    p = plan(last_number=4, previous_cutoff=NOW - timedelta(days=3))
    assert p is not None and p.number == 5
    assert [x.slug for x in p.posts] == ["a"]  # b is exactly at the cutoff: excluded
    assert plan(previous_cutoff=NOW) is None  # nothing new: no issue
    future = plan_issue(
        (post(-1, "future"),),
        last_number=0,
        previous_cutoff=None,
        now=NOW,
        max_posts=20,
        first_window_days=30,
    )
    assert future is None


def test_max_posts_keeps_the_newest() -> None:
    p = plan(max_posts=2)
    assert p is not None and [x.slug for x in p.posts] == ["a", "b"] and p.left_out == 1


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

#!/usr/bin/env python3
"""Generate N benchmark posts of about 1,000 words, as a fieldfeed site and as a Pelican site.

Deterministic: post ``i`` depends only on ``--seed`` and ``i``, so the 1,000-post site is the
first 1,000 posts of the 10,000-post site, and two runs write byte-identical files.

Each post has YAML front matter (fieldfeed) or Pelican ``Key: value`` metadata, then the same
Markdown body: headings, paragraphs with emphasis, inline code and links, a bullet list, a fenced
code block, a table, and sometimes a footnote. Every post has 2-4 of 20 tags (a Zipf-like
spread, so a few tags are large) and a date with a UTC offset between 2012 and 2024.

    python benchmarks/gen_posts.py --posts 1000 --out benchmarks/_work/sites/1000

writes ``<out>/fieldfeed/`` (fieldfeed.toml + content/posts/) and ``<out>/pelican/``
(pelicanconf.py, pelicanconf_min.py + content/). Only the standard library is needed.
"""

from __future__ import annotations

import argparse
import random
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

TAGS = [
    "Python", "Databases", "PostgreSQL", "Distributed Systems", "Performance", "Testing",
    "Operations", "Networking", "Security", "API Design", "Observability", "Rust", "Go",
    "Kubernetes", "Caching", "Queues", "Storage", "Career", "Writing", "Tooling",
]  # fmt: skip
# Zipf-like weights: the first tags are on many posts, the last on few.
TAG_WEIGHTS = [1 / (k + 1) ** 0.8 for k in range(len(TAGS))]

OFFSETS = [0, 60, 120, -300, -420, 330, 540, 600]  # minutes east of UTC
START = datetime(2012, 1, 1, tzinfo=UTC)
SPAN_SECONDS = int((datetime(2024, 12, 31, tzinfo=UTC) - START).total_seconds())

NOUNS = [
    "request",
    "response",
    "queue",
    "worker",
    "database",
    "index",
    "query",
    "cache",
    "replica",
    "leader",
    "follower",
    "partition",
    "shard",
    "table",
    "column",
    "row",
    "transaction",
    "lock",
    "deadlock",
    "timeout",
    "retry",
    "budget",
    "latency",
    "throughput",
    "deployment",
    "release",
    "rollback",
    "migration",
    "schema",
    "service",
    "client",
    "server",
    "endpoint",
    "connection",
    "pool",
    "socket",
    "buffer",
    "packet",
    "handshake",
    "certificate",
    "token",
    "session",
    "cookie",
    "header",
    "payload",
    "message",
    "event",
    "stream",
    "consumer",
    "producer",
    "offset",
    "checkpoint",
    "snapshot",
    "backup",
    "restore",
    "disk",
    "page",
    "block",
    "file",
    "directory",
    "process",
    "thread",
    "coroutine",
    "scheduler",
    "kernel",
    "container",
    "cluster",
    "node",
    "region",
    "zone",
    "metric",
    "trace",
    "span",
    "log",
    "alert",
    "dashboard",
    "incident",
    "postmortem",
    "runbook",
    "pager",
    "oncall",
    "budget",
    "function",
    "module",
    "package",
    "dependency",
    "library",
    "compiler",
    "interpreter",
    "profiler",
    "benchmark",
    "test",
    "fixture",
    "assertion",
    "mock",
    "fake",
    "contract",
    "interface",
    "protocol",
    "format",
    "parser",
    "encoder",
    "decoder",
]
VERBS = [
    "reads",
    "writes",
    "sends",
    "receives",
    "retries",
    "drops",
    "blocks",
    "waits",
    "returns",
    "stores",
    "flushes",
    "compacts",
    "splits",
    "merges",
    "scales",
    "fails",
    "recovers",
    "restarts",
    "measures",
    "reports",
    "logs",
    "traces",
    "samples",
    "caches",
    "invalidates",
    "serialises",
    "parses",
    "validates",
    "rejects",
    "accepts",
    "throttles",
    "batches",
    "streams",
    "replays",
]
ADJECTIVES = [
    "slow",
    "fast",
    "small",
    "large",
    "stale",
    "fresh",
    "busy",
    "idle",
    "cold",
    "warm",
    "hot",
    "durable",
    "fragile",
    "noisy",
    "quiet",
    "simple",
    "subtle",
    "hidden",
    "obvious",
    "careful",
    "naive",
    "eventual",
    "strict",
    "loose",
    "stable",
    "flaky",
    "expensive",
    "cheap",
]
FILLER = [
    "the",
    "a",
    "an",
    "this",
    "that",
    "every",
    "each",
    "our",
    "their",
    "its",
    "one",
    "some",
    "most",
    "few",
]
CONNECT = [
    "and",
    "but",
    "so",
    "because",
    "while",
    "when",
    "although",
    "until",
    "unless",
    "after",
    "before",
    "since",
]
ADVERBS = [
    "quietly",
    "rarely",
    "often",
    "usually",
    "never",
    "always",
    "eventually",
    "suddenly",
    "slowly",
]
LANGS = ["python", "go", "sql", "bash", "rust", "yaml"]


@dataclass(frozen=True)
class Post:
    index: int
    slug: str
    title: str
    date: datetime  #: aware, in the post's own offset
    tags: tuple[str, ...]
    body: str  #: Markdown, no front matter


def _sentence(rng: random.Random) -> str:
    words: list[str] = []
    for clause in range(rng.choice((1, 1, 2))):
        if clause:
            words.append(rng.choice(CONNECT))
        words += [rng.choice(FILLER), rng.choice(ADJECTIVES), rng.choice(NOUNS)]
        if rng.random() < 0.3:
            words.append(rng.choice(ADVERBS))
        words += [rng.choice(VERBS), rng.choice(FILLER), rng.choice(NOUNS)]
        for _ in range(rng.randint(0, 5)):
            words.append(rng.choice(NOUNS + ADJECTIVES + FILLER))
    # Decorate a word now and then: emphasis, strong, inline code, a link.
    r = rng.random()
    k = rng.randrange(1, len(words))
    if r < 0.12:
        words[k] = f"*{words[k]}*"
    elif r < 0.18:
        words[k] = f"**{words[k]}**"
    elif r < 0.28:
        words[k] = f"`{words[k]}()`"
    elif r < 0.34:
        words[k] = f"[{words[k]}](https://example.org/wiki/{words[k]})"
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice(".....?!")


def _paragraph(rng: random.Random, sentences: int) -> str:
    return " ".join(_sentence(rng) for _ in range(sentences))


def _code_block(rng: random.Random) -> str:
    lang = rng.choice(LANGS)
    n1, n2, n3 = rng.sample(NOUNS, 3)
    lines = {
        "python": [
            f"def handle_{n1}({n2}, *, timeout=30):",
            f'    """Retry the {n3} until it succeeds or the budget runs out."""',
            "    for attempt in range(5):",
            "        try:",
            f"            return {n2}.send({n3}={rng.randint(1, 999)})",
            "        except TimeoutError:",
            "            time.sleep(2 ** attempt)",
            f'    raise RuntimeError("{n1} failed")',
        ],
        "go": [
            f"func handle{n1.title()}(ctx context.Context, {n2} *{n3.title()}) error {{",
            f"\tfor i := 0; i < {rng.randint(2, 9)}; i++ {{",
            f"\t\tif err := {n2}.Send(ctx); err == nil {{",
            "\t\t\treturn nil",
            "\t\t}",
            "\t}",
            f'\treturn errors.New("{n1} failed")',
            "}",
        ],
        "sql": [
            f"SELECT {n1}_id, count(*) AS {n2}s",
            f"FROM {n3}s",
            f"WHERE created_at > now() - interval '{rng.randint(1, 30)} days'",
            f"GROUP BY {n1}_id",
            f"ORDER BY {n2}s DESC",
            "LIMIT 20;",
        ],
        "bash": [
            "set -euo pipefail",
            f"for {n1} in $(ls /var/lib/{n2}); do",
            f'  echo "checking ${n1}"',
            f"  curl -fsS https://example.org/{n3}/${n1} > /dev/null",
            "done",
        ],
        "rust": [
            f"fn {n1}_{n2}(input: &[u8]) -> Result<usize, Error> {{",
            f"    let {n3} = input.iter().filter(|b| **b == b'\\n').count();",
            f"    if {n3} > {rng.randint(10, 500)} {{",
            "        return Err(Error::TooLong);",
            "    }",
            f"    Ok({n3})",
            "}",
        ],
        "yaml": [
            f"{n1}:",
            f"  {n2}: {rng.randint(1, 64)}",
            f"  {n3}: true",
            "  retries:",
            f"    max: {rng.randint(1, 9)}",
            "    backoff: exponential",
        ],
    }[lang]
    return f"```{lang}\n" + "\n".join(lines) + "\n```"


def _table(rng: random.Random) -> str:
    cols = [rng.choice(NOUNS).title(), "p50 (ms)", "p99 (ms)"]
    rows = ["| " + " | ".join(cols) + " |", "|---|---:|---:|"]
    for _ in range(rng.randint(3, 5)):
        p50 = rng.randint(1, 200)
        rows.append(
            f"| {rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} | {p50} | {p50 * rng.randint(2, 9)} |"
        )
    return "\n".join(rows)


def _list(rng: random.Random) -> str:
    return "\n".join(
        "- "
        + " ".join(rng.choice(NOUNS + ADJECTIVES) for _ in range(rng.randint(5, 12))).capitalize()
        + "."
        for _ in range(rng.randint(4, 6))
    )


def _words(text: str) -> int:
    return len(text.split())


def make_post(seed: int, index: int, target_words: int = 1000) -> Post:
    """Post number ``index``; depends only on (seed, index)."""
    rng = random.Random(f"{seed}:{index}")
    title_words = [
        rng.choice(ADJECTIVES),
        rng.choice(NOUNS),
        rng.choice(CONNECT),
        rng.choice(FILLER),
        rng.choice(NOUNS),
    ]
    title = " ".join(title_words).capitalize() + f" ({index})"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    seconds = rng.randrange(SPAN_SECONDS)
    offset = timezone(timedelta(minutes=rng.choice(OFFSETS)))
    date = (START + timedelta(seconds=seconds)).astimezone(offset).replace(microsecond=0)
    k = rng.randint(2, 4)
    tags: list[str] = []
    while len(tags) < k:
        t = rng.choices(TAGS, weights=TAG_WEIGHTS)[0]
        if t not in tags:
            tags.append(t)

    blocks = [_paragraph(rng, rng.randint(4, 6))]
    extras = ["list", "code", "table"]
    rng.shuffle(extras)
    footnote = rng.random() < 0.3
    section = 0
    while _words("\n\n".join(blocks)) < target_words - 60:
        section += 1
        blocks.append(
            f"## {rng.choice(ADJECTIVES).capitalize()} {rng.choice(NOUNS)}s, part {section}"
        )
        blocks.append(_paragraph(rng, rng.randint(3, 6)))
        if extras:
            blocks.append({"list": _list, "code": _code_block, "table": _table}[extras.pop()](rng))
        blocks.append(_paragraph(rng, rng.randint(3, 6)))
        if section == 2 and footnote:
            blocks[-1] += "[^1]"
    blocks.append(
        f"See also [the {rng.choice(NOUNS)} notes](../{rng.choice(NOUNS)}-notes/) and "
        f"[the docs](https://docs.example.org/{rng.choice(NOUNS)}/)."
    )
    if footnote:
        blocks.append(f"[^1]: {_sentence(rng)}")
    return Post(index, slug, title, date, tuple(tags), "\n\n".join(blocks) + "\n")


FIELDFEED_TOML = """\
[site]
title = "Benchmark Notes"
url = "https://bench.example.org/"
description = "Generated posts for the fieldfeed build benchmark"
language = "en"
author = "Bench Author"
email = "bench@example.org"
timezone = "UTC"

[content]
summary_chars = 300
words_per_minute = 230

[feeds]
dir = "public"
max_items = 50
"""

# Same Markdown extensions and settings as fieldfeed/site/markdown.py, plus `meta` (Pelican
# reads its metadata with it), so both tools do the same Markdown work.
PELICAN_MARKDOWN = """\
MARKDOWN = {
    "extension_configs": {
        "markdown.extensions.meta": {},
        "markdown.extensions.fenced_code": {},
        "markdown.extensions.tables": {},
        "markdown.extensions.toc": {"permalink": False},
        "markdown.extensions.footnotes": {},
        "markdown.extensions.sane_lists": {},
    },
    "output_format": "html5",
}
"""

PELICANCONF = '''\
"""Pelican settings for the benchmark: the full site with the default theme, plus the site-wide
and per-tag Atom and RSS feeds (what fieldfeed writes, minus JSON Feed)."""

AUTHOR = "Bench Author"
SITENAME = "Benchmark Notes"
SITEURL = "https://bench.example.org"
FEED_DOMAIN = SITEURL
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
PATH = "content"
DELETE_OUTPUT_DIRECTORY = True

# Feeds: site-wide and per tag, Atom and RSS, full content, 50 items (like fieldfeed).
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
TAG_FEED_ATOM = "feeds/tag/{slug}.atom.xml"
TAG_FEED_RSS = "feeds/tag/{slug}.rss.xml"
RSS_FEED_SUMMARY_ONLY = False
FEED_MAX_ITEMS = 50
FEED_ATOM = None
FEED_RSS = None
CATEGORY_FEED_ATOM = None
CATEGORY_FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None

# Cold builds: no reader or generator cache.
LOAD_CONTENT_CACHE = False
CACHE_CONTENT = False
'''

PELICANCONF_MIN = '''\
"""Pelican with the fewest outputs we could configure: the same feeds, no article pages, no
index/tag/category/author/archive pages, no static files. Pelican still reads and renders every
post (it needs the HTML for the feeds). Everything in pelicanconf.py applies, then:"""

DIRECT_TEMPLATES = []
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
PAGE_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""
TAG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
STATIC_PATHS = []
THEME_STATIC_PATHS = []
'''


def fieldfeed_text(post: Post) -> str:
    tags = ", ".join(f'"{t}"' for t in post.tags)
    return (
        f'---\ntitle: "{post.title}"\ndate: {post.date.isoformat()}\ntags: [{tags}]\n'
        f"slug: {post.slug}\n---\n\n{post.body}"
    )


def pelican_text(post: Post) -> str:
    return (
        f"Title: {post.title}\nDate: {post.date.isoformat(sep=' ')}\n"
        f"Tags: {', '.join(post.tags)}\nSlug: {post.slug}\nAuthor: Bench Author\n\n{post.body}"
    )


def post_filename(post: Post) -> str:
    return f"{post.date:%Y-%m-%d}-{post.slug}.md"


def generate(out: Path, posts: int, seed: int = 1, *, pelican: bool = True) -> list[Post]:
    """Write the sites under ``out`` (replacing them) and return the posts."""
    items = [make_post(seed, i) for i in range(posts)]
    ff = out / "fieldfeed"
    shutil.rmtree(ff, ignore_errors=True)
    (ff / "content" / "posts").mkdir(parents=True)
    (ff / "fieldfeed.toml").write_text(FIELDFEED_TOML, encoding="utf-8")
    for p in items:
        (ff / "content" / "posts" / post_filename(p)).write_text(
            fieldfeed_text(p), encoding="utf-8"
        )
    if pelican:
        pel = out / "pelican"
        shutil.rmtree(pel, ignore_errors=True)
        (pel / "content").mkdir(parents=True)
        (pel / "pelicanconf.py").write_text(PELICANCONF + "\n" + PELICAN_MARKDOWN, encoding="utf-8")
        (pel / "pelicanconf_min.py").write_text(
            PELICANCONF + "\n" + PELICAN_MARKDOWN + "\n" + PELICANCONF_MIN, encoding="utf-8"
        )
        for p in items:
            (pel / "content" / post_filename(p)).write_text(pelican_text(p), encoding="utf-8")
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--posts", type=int, default=1000, help="how many posts (default 1000)")
    ap.add_argument(
        "--out", type=Path, default=Path(__file__).parent / "_work" / "sites" / "manual"
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-pelican", action="store_true", help="write only the fieldfeed site")
    args = ap.parse_args()
    items = generate(args.out, args.posts, args.seed, pelican=not args.no_pelican)
    words = sum(_words(p.body) for p in items) / max(len(items), 1)
    print(f"wrote {len(items)} posts (mean {words:.0f} words) under {args.out}")


if __name__ == "__main__":
    main()

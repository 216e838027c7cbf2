"""Posts frozen to JSON and back: every field of a Post, so a resumed send rebuilds exactly the
same records. An issue's posts are stored this way (:mod:`fieldfeed.store.issues`), and the
web archive reads them back. Pure: no IO.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from fieldfeed.model import Post, Tag

__all__ = ["dump_posts", "load_posts", "post_from_dict", "post_to_dict"]


def post_to_dict(post: Post) -> dict[str, Any]:
    """Every field of ``post`` as JSON values (reads ``post.html``)."""
    return {
        "source": post.source,
        "slug": post.slug,
        "title": post.title,
        "date": post.date.isoformat(),
        "updated": post.updated.isoformat(),
        "tags": [[t.name, t.slug] for t in post.tags],
        "summary": post.summary,
        "html": post.html,
        "url": post.url,
        "id": post.id,
        "author": post.author,
        "image": post.image,
        "draft": post.draft,
        "word_count": post.word_count,
        "read_minutes": post.read_minutes,
    }


def post_from_dict(data: dict[str, Any]) -> Post:
    """The Post :func:`post_to_dict` was given, holding its HTML in memory."""
    return Post(
        source=data["source"],
        slug=data["slug"],
        title=data["title"],
        date=datetime.fromisoformat(data["date"]),
        updated=datetime.fromisoformat(data["updated"]),
        tags=tuple(Tag(name, slug) for name, slug in data["tags"]),
        summary=data["summary"],
        html=data["html"],
        url=data["url"],
        id=data["id"],
        author=data["author"],
        image=data["image"],
        draft=data["draft"],
        word_count=data["word_count"],
        read_minutes=data["read_minutes"],
    )


def dump_posts(posts: Sequence[Post]) -> str:
    """Posts as JSON text (offsets kept: ``datetime.isoformat`` round-trips exactly)."""
    return json.dumps([post_to_dict(p) for p in posts], ensure_ascii=False, sort_keys=True)


def load_posts(text: str) -> tuple[Post, ...]:
    """The posts :func:`dump_posts` wrote, in order."""
    return tuple(post_from_dict(d) for d in json.loads(text))

"""``fieldfeed init``: lay out a new site with a config, a first post and a .gitignore."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fieldfeed.errors import UsageError
from fieldfeed.statefiles import make_private_dir

_CONFIG = """\
# fieldfeed.toml: see `fieldfeed --help` and the README for every key.
[site]
title = {title}
url = {url}
description = "Notes and essays"
language = "en"
author = ""
email = ""
timezone = {timezone}
# post_path = "posts/{{slug}}/"

[content]
summary_chars = 300
words_per_minute = 230

[feeds]
dir = "public"
max_items = 50

[digest]
schedule = "0 8 * * mon"          # cron, in the site's timezone
from = "{bare_title} <news@{domain}>"
max_posts = 20
unsubscribe_url = "{url_bare}u/"  # where `fieldfeed serve`'s /u/ endpoint is public
archive_url = "{url_bare}archive/"  # where its /archive/ is public ("view in the browser")

[delivery]
transport = "maildir"             # or "smtp"
maildir = ".fieldfeed/outbox"
host = "127.0.0.1"
port = 587
security = "starttls"             # "tls", "starttls" or "none"
username = ""
password_env = "FIELDFEED_SMTP_PASSWORD"   # the password itself never goes in this file

[state]
database = "sqlite:///.fieldfeed/fieldfeed.db"
"""

_POST = """\
---
title: Hello, fieldfeed
date: {date}
tags: [meta]
---
This is your first post. Write Markdown below the front matter; `fieldfeed build` turns every
post in `content/` into RSS, Atom and JSON feeds under `public/`.

<!-- more -->

## What goes in the front matter

| key | meaning |
|-----|---------|
| `title` | required |
| `date` | required unless the file name starts with `YYYY-MM-DD-` |
| `tags` | a list, or one comma-separated string |
| `summary` | plain text shown in feeds and digests |
| `draft` | `true` keeps the post out of every output |
"""

# preview/ (`digest preview`'s default folder): rendered issues belong in no repository.
_GITIGNORE = "public/\n.fieldfeed/\npreview/\n"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def create_site(
    directory: Path, *, title: str, url: str, timezone: str, now: datetime
) -> list[Path]:
    """Create the files of a new site and return their paths. Never overwrites a file."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--timezone: unknown timezone {timezone!r}") from None
    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url must start with https://, got {url!r}")
    config = directory / "fieldfeed.toml"
    if config.exists():
        raise UsageError(f"{config} already exists; not touching an existing site")
    url_bare = url if url.endswith("/") else url + "/"
    domain = url_bare.split("//", 1)[1].split("/", 1)[0].split(":", 1)[0] or "example.org"
    local = now.astimezone(tz)
    post = directory / "content" / "posts" / f"{local:%Y-%m-%d}-hello-fieldfeed.md"
    files = {
        config: _CONFIG.format(
            title=_toml_string(title),
            bare_title=title.replace('"', "'"),
            url=_toml_string(url_bare),
            url_bare=url_bare,
            timezone=_toml_string(timezone),
            domain=domain,
        ),
        post: _POST.format(date=local.replace(microsecond=0).isoformat()),
        directory / ".gitignore": _GITIGNORE,
    }
    # The state folder (database, secret, outbox) exists from the start, private (0700), so
    # whatever later writes into it does not make it with the default, world-readable mode.
    make_private_dir(directory / ".fieldfeed")  # Settings.state_dir
    created = []
    for path, text in files.items():
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        created.append(path)
    return created

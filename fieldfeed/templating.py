"""The jinja2 environment the digest and confirmation mails are rendered with.

Templates are looked up by file name in the site's ``templates/`` first, then in the defaults
shipped inside the package (``fieldfeed/templates``, which in the repository is a symlink to the
repo's ``templates/``), so a site overrides any single template by giving a file the same name.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import jinja2

from fieldfeed.config import Settings

#: The templates shipped with fieldfeed, used when the site has no file of that name.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent / "templates"

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def template_env(settings: Settings) -> jinja2.Environment:
    """A jinja2 environment for ``settings``' site: its templates first, then the defaults.

    Autoescaping is on for ``.html``/``.htm``/``.xml`` templates and off for ``.txt``.
    Undefined variables raise (``StrictUndefined``) so a typo in a site's template fails the
    preview instead of silently mailing a blank to every subscriber. Filters added:
    ``human_date`` ("19 January 2025", in the site's timezone) and ``short_date``
    ("19 Jan 2025"). Does not read any file until a template is requested.
    """
    loader = jinja2.ChoiceLoader(
        [
            jinja2.FileSystemLoader(str(settings.templates_dir)),
            jinja2.FileSystemLoader(str(PACKAGE_TEMPLATES)),
        ]
    )
    env = jinja2.Environment(
        loader=loader,
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml"), default_for_string=False
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    tz = settings.site.tz

    def human_date(value: datetime) -> str:
        local = value.astimezone(tz)
        return f"{local.day} {_MONTHS[local.month - 1]} {local.year}"

    def short_date(value: datetime) -> str:
        local = value.astimezone(tz)
        return f"{local.day} {_MONTHS[local.month - 1][:3]} {local.year}"

    env.filters["human_date"] = human_date
    env.filters["short_date"] = short_date
    return env

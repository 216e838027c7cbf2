"""The site's language: dates through Babel and built-in words from gettext catalogs.

``[site] language`` (BCP 47: ``en``, ``en-GB``, ``de``) picks both. Catalogs are plain ``.po``
files, read with Babel at startup and compiled in memory, so neither fieldfeed nor a site needs
a build step (no ``.mo`` files to keep in step with their sources). The English text is the
source text in the templates; ``de`` ships in ``fieldfeed/catalogs``. A site adds or
overrides a language with ``locales/<language>.po`` in its own folder, found before the shipped
one.
"""

from __future__ import annotations

import io
import logging
from datetime import datetime
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_skeleton
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

from fieldfeed.configcheck import find_line
from fieldfeed.errors import Problem, display_path

log = logging.getLogger(__name__)

#: The catalogs shipped with fieldfeed (``<language>.po``).
PACKAGE_LOCALES = Path(__file__).resolve().parent / "catalogs"
#: The folder, relative to the site root, where a site keeps its own ``<language>.po``.
SITE_LOCALES = "locales"


def babel_locale(language: str) -> Locale | None:
    """The Babel locale for a BCP 47 tag, or None when Babel has no data for it."""
    try:
        return Locale.parse(language, sep="-")
    except (UnknownLocaleError, ValueError):
        return None


def catalog_path(root: Path, language: str) -> Path | None:
    """The ``.po`` file for ``language``: the site's first, then fieldfeed's; the full tag
    (``de-AT``) before its language (``de``). None for English or when there is none."""
    tags = [language, language.split("-")[0]]
    if tags[-1].lower() == "en":
        return None
    for folder in (root / SITE_LOCALES, PACKAGE_LOCALES):
        for tag in dict.fromkeys(tags):
            for name in (tag, tag.replace("-", "_")):
                path = folder / f"{name}.po"
                if path.is_file():
                    return path
    return None


def language_problem(root: Path, language: str) -> str | None:
    """Why ``language`` falls back to English (a warning, not an error), or None."""
    if babel_locale(language) is None:
        return (
            f"[site] language {language!r} is not a language fieldfeed knows; "
            "dates and built-in words stay English"
        )
    if language.split("-")[0].lower() != "en" and catalog_path(root, language) is None:
        return (
            f"[site] language {language!r} has no translation of the built-in words; they "
            f"stay English (add {SITE_LOCALES}/{language}.po to the site)"
        )
    return None


def language_warning(root: Path, language: str) -> Problem | None:
    """:func:`language_problem` located at the ``language`` line of ``fieldfeed.toml``, for
    commands to print when they load the configuration."""
    message = language_problem(root, language)
    if message is None:
        return None
    path = root / "fieldfeed.toml"
    try:
        line = find_line(path.read_text(encoding="utf-8"), "site", "language")
    except OSError:
        line = 0
    shown = display_path(path, Path.cwd()) if path.is_absolute() else str(path)
    return Problem(shown, line, message)


@cache
def _compiled(path: Path, mtime_ns: int) -> Translations:
    with path.open("rb") as f:
        catalog = read_po(f)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(fp=buffer)


def translations(root: Path, language: str) -> NullTranslations:
    """gettext translations for ``language`` (see :func:`catalog_path`); English when none.

    A catalog that does not parse falls back to English with a logged warning: a typo in a
    translation must not stop an issue from going out.
    """
    path = catalog_path(root, language) if babel_locale(language) else None
    if path is None:
        return NullTranslations()
    try:
        return _compiled(path, path.stat().st_mtime_ns)
    except Exception as exc:
        log.warning("%s: cannot read the translations (%s); built-in words stay English", path, exc)
        return NullTranslations()


class DateFormats:
    """``human`` and ``short`` dates in a site's language and timezone.

    English keeps fieldfeed's own day-month-year order ("3 March 2026", "3 Mar 2026"), which
    Babel's English patterns ("March 3, 2026") would change for every existing site; other
    languages use Babel's long format ("3. März 2026") and its year-month-day skeleton.
    """

    def __init__(self, language: str, tz: ZoneInfo) -> None:
        locale = babel_locale(language) or Locale("en")
        self.english = locale.language == "en"
        # Plain "en" for every English: en-GB's "Sept" would change the short dates.
        self.locale = Locale("en") if self.english else locale
        self.tz = tz

    def human(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        if self.english:
            return format_date(local.date(), "d MMMM y", locale=self.locale)
        return format_date(local.date(), "long", locale=self.locale)

    def short(self, value: datetime) -> str:
        local = value.astimezone(self.tz)
        if self.english:
            return format_date(local.date(), "d MMM y", locale=self.locale)
        return format_skeleton("yMMMd", local.date(), locale=self.locale)

"""The jinja2 environment the digest and confirmation mails are rendered with.

Templates are looked up by file name in the site's ``templates/`` first, then in the defaults
shipped inside the package (``fieldfeed/templates``, which in the repository is a symlink to the
repo's ``templates/``), so a site overrides any single template by giving a file the same name.
"""

from __future__ import annotations

from pathlib import Path

import jinja2

from fieldfeed.config import Settings
from fieldfeed.errors import FieldfeedError, Problem, display_path
from fieldfeed.locales import DateFormats, translations
from fieldfeed.mail.wordbreaks import mail_text


class TemplateProblem(FieldfeedError):
    """A site's template does not compile or fails to render; nothing was sent."""


#: The templates shipped with fieldfeed, used when the site has no file of that name.
PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def template_env(settings: Settings) -> jinja2.Environment:
    """A jinja2 environment for ``settings``' site: its templates first, then the defaults.

    Autoescaping is on for ``.html``/``.htm``/``.xml`` templates and off for ``.txt``.
    Undefined variables raise (``StrictUndefined``) so a typo in a site's template fails the
    preview instead of silently mailing a blank to every subscriber. Built-in words go through
    gettext (``jinja2.ext.i18n``: ``_()``, ``ngettext()``, ``{% trans %}``) with the catalog of
    ``[site] language`` (:mod:`fieldfeed.locales`). Filters added: ``human_date``
    ("19 January 2025", "19. Januar 2025"; in the site's timezone) and ``short_date``
    ("19 Jan 2025"), and ``mail_text`` (plain text as mail HTML: escaped, break points in
    long words for Outlook, paragraph breaks kept; see :mod:`fieldfeed.mail.wordbreaks`).
    Does not read any file until a template is requested.
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
    env.add_extension("jinja2.ext.i18n")
    language = settings.site.language
    env.install_gettext_translations(  # type: ignore[attr-defined]
        translations(settings.root, language), newstyle=True
    )
    dates = DateFormats(language, settings.site.tz)
    env.filters["human_date"] = dates.human
    env.filters["short_date"] = dates.short
    env.filters["mail_text"] = mail_text
    return env


def check_templates(settings: Settings) -> tuple[Problem, ...]:
    """Compile every template the site would use (its own and the defaults it does not
    override), so a typo in an override is reported by ``check`` and before a send, not in
    the middle of one."""
    env = template_env(settings)
    problems = []
    for name in env.list_templates(extensions=("html", "htm", "txt", "xml")):
        try:
            env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(_problem(settings, exc, name))
    return tuple(problems)


def ensure_templates(settings: Settings) -> None:
    """Raise TemplateProblem listing every template that does not compile."""
    problems = check_templates(settings)
    if problems:
        n = len(problems)
        raise TemplateProblem(
            "\n".join(str(p) for p in problems)
            + f"\n{n} template problem{'s' if n != 1 else ''}; nothing was published or sent"
        )


def render_error(settings: Settings, exc: jinja2.TemplateError, *names: str) -> TemplateProblem:
    """A one-line, located error for one of ``names`` that failed to compile or render."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return TemplateProblem(str(_problem(settings, exc, names[0])))
    paths = {str(_source_path(settings, n)): _source_path(settings, n) for n in names}
    line, path = 0, _source_path(settings, names[0])
    tb = exc.__traceback__
    while tb is not None:  # jinja2 maps template frames to the template file and line
        filename = tb.tb_frame.f_code.co_filename
        if filename in paths:
            line, path = tb.tb_lineno, paths[filename]
        tb = tb.tb_next
    shown = display_path(path, settings.root)
    return TemplateProblem(str(Problem(shown, line, f"template: {exc.message or exc}")))


def _problem(settings: Settings, exc: jinja2.TemplateSyntaxError, name: str) -> Problem:
    path = Path(exc.filename) if exc.filename else _source_path(settings, name)
    return Problem(display_path(path, settings.root), exc.lineno or 0, f"template: {exc.message}")


def _source_path(settings: Settings, name: str) -> Path:
    """Where template ``name`` comes from: the site's templates/ or the packaged defaults."""
    own = settings.templates_dir / name
    return own if own.is_file() else PACKAGE_TEMPLATES / name

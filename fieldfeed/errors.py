"""The exceptions fieldfeed raises on purpose.

Every error a user can act on derives from :class:`FieldfeedError`; the CLI maps these to exit
codes and prints them as one line, never with a traceback. Anything else is a bug.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class FieldfeedError(Exception):
    """Base class: a known problem the user can fix. ``str()`` is the one-line message."""

    exit_code = 1


class UsageError(FieldfeedError):
    """The command line asked for something impossible (exit code 2)."""

    exit_code = 2


class ConfigError(FieldfeedError):
    """fieldfeed.toml is missing, unreadable or has a wrong value."""


class StateError(FieldfeedError):
    """The state database is unreachable or in an unexpected state."""


class LockedError(FieldfeedError):
    """Another fieldfeed process holds the site's lock."""


class DeliveryError(FieldfeedError):
    """A transport could not be used at all (not a per-recipient failure)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in one file: shown as ``path:line: message``.

    ``line`` is 1-based; 0 means the problem concerns the whole file.
    """

    path: str
    line: int
    message: str
    #: Warnings are reported but do not stop a build.
    warning: bool = False

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        kind = "warning: " if self.warning else ""
        return f"{where}: {kind}{self.message}"


class ContentError(FieldfeedError):
    """One or more posts are broken; nothing was published.

    Carries every problem found, so a user fixes them all in one round.
    """

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        n = len(problems)
        super().__init__(
            "\n".join(str(p) for p in problems)
            + f"\n{n} problem{'s' if n != 1 else ''} found; nothing was published"
        )


def display_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when it lies below it, for messages users can click."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)

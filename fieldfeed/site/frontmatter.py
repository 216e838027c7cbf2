"""Front matter: split a post's text into metadata and Markdown body; read typed values.

YAML sits between ``---`` lines, TOML between ``+++`` lines; Pelican's metadata header
(``Title: ...`` lines up to the first blank line) reads as string values. Pure: text in,
data out. Errors carry the line *in the file* (parsers count from the start of the block,
and YAML from 0).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

import yaml

from fieldfeed.limits import MAX_FRONT_MATTER_VALUES, MAX_NESTING, toml_nesting

__all__ = [
    "FrontMatter",
    "FrontMatterError",
    "Report",
    "describe",
    "meta_datetime",
    "meta_string",
    "parse_datetime_string",
    "parse_front_matter",
]

#: Called with (key, message) for a value of the wrong type or form.
Report = Callable[[str, str], None]


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (the C one when available: about 10x faster).

    A timestamp-looking scalar that is no real date (``2024-13-01``) stays a string, so the
    post's validation can name the key and its line instead of failing the whole block.

    What a document expands to is bounded before anything is built from it (see
    :func:`_check_expansion`): YAML aliases share one node, so a few lines can stand for
    hundreds of millions of values, and every later step (validation messages, the cache)
    walks the expanded value.
    """

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return self.construct_document(node)


class _Refused(Exception):
    """The YAML graph is too large or too deep to build; ``line`` is 0-based in the block."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document that expands to more than MAX_FRONT_MATTER_VALUES values, nests
    deeper than MAX_NESTING, or holds an alias to a value containing it.

    An alias is a second reference to the anchored node, so the expanded size of a node is
    1 + the sizes of its children counted at every use; computed once per distinct node
    (iteratively: no recursion for a deep document), which is linear in the text. The
    message names the top-level key whose value crosses the limit ("check every key").
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack[-1]
        key = id(node)
        if key in size:
            stack.pop()
            continue
        children = _children(node)
        if key not in on_path:
            if depth > MAX_NESTING:
                raise _Refused(node.start_mark.line, f"nested more than {MAX_NESTING} levels deep")
            on_path.add(key)
            for child in children:
                if id(child) in on_path:
                    raise _Refused(
                        node.start_mark.line, "a YAML alias refers to a value that contains it"
                    )
                stack.append((child, depth + 1))
            continue
        on_path.discard(key)
        stack.pop()
        # Capped, so the numbers stay small however far an alias bomb would expand.
        size[key] = min(1 + sum(size[id(c)] for c in children), MAX_FRONT_MATTER_VALUES + 1)
    pairs = root.value if isinstance(root, yaml.MappingNode) else [(root, root)]
    total = 1
    for name, value in pairs:
        total += 1 + size[id(value)]
        if total > MAX_FRONT_MATTER_VALUES:
            label = (
                f"{name.value}: " if isinstance(name, yaml.ScalarNode) and name is not value else ""
            )
            raise _Refused(
                name.start_mark.line,
                f"{label}front matter expands to more than {MAX_FRONT_MATTER_VALUES:,} values "
                "(YAML aliases count at every use); refusing to build it",
            )


def _timestamp_or_string(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError:
        return loader.construct_scalar(node)


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_or_string)

NO_FRONT_MATTER = (
    "no front matter: a post starts with --- (YAML), +++ (TOML) or Pelican's 'Title: ...' lines"
)


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """A post's text, split."""

    #: The metadata mapping as the parser produced it (YAML or TOML native types).
    meta: dict[str, Any]
    #: The Markdown after the closing delimiter.
    body: str
    #: 1-based line in the file where ``body`` starts.
    body_line: int
    #: 1-based line in the file of each top-level key, for messages about that key.
    key_lines: dict[str, int]
    #: "yaml", "toml" or "pelican".
    format: str
    #: 1-based line of the opening delimiter (messages about a missing key point here).
    start_line: int = 1


class FrontMatterError(ValueError):
    """The front matter cannot be read. ``line`` is 1-based in the file."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


_YAML_KEY = re.compile(r"""^(?:"([^"]+)"|'([^']+)'|([^\s#'"\-?:][^:#]*?))\s*:(?:\s|$)""")
_TOML_KEY = re.compile(r"""^\s*(?:"([^"]+)"|'([^']+)'|([A-Za-z0-9_-]+))\s*=""")
_TOML_TABLE = re.compile(r"^\s*\[\[?\s*([^\].]+)")
_TOML_AT = re.compile(r"\s*\(at line (\d+), column (\d+)\)")
_TOML_END = re.compile(r"\s*\(at end of document\)")


def parse_front_matter(text: str) -> FrontMatter:
    """Split ``text`` (a whole post file) into front matter and body.

    Raises FrontMatterError when there is no front matter, it is never closed, it does not
    parse, or it is not a mapping. An empty block is an empty mapping.
    """
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.split("\n")
    # Leading blank lines are tolerated; anything else before the delimiter is not.
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    if start == len(lines):
        raise FrontMatterError(1, NO_FRONT_MATTER)
    opener = lines[start].rstrip()
    closers: tuple[str, ...]
    if opener == "---":
        kind, closers = "yaml", ("---", "...")
    elif opener == "+++":
        kind, closers = "toml", ("+++",)
    else:
        header = _pelican_header(lines, start)
        if header is None:
            raise FrontMatterError(start + 1, NO_FRONT_MATTER)
        return header
    end = next((i for i in range(start + 1, len(lines)) if lines[i].rstrip() in closers), None)
    if end is None:
        raise FrontMatterError(
            start + 1, f"front matter opened on line {start + 1} is never closed"
        )
    block = "\n".join(lines[start + 1 : end])
    # Line numbers inside the block are 0-based (YAML) or 1-based (TOML) from its first line,
    # which is file line start + 2 (start is a 0-based index of the opening delimiter).
    first = start + 2
    meta = _parse_yaml(block, first) if kind == "yaml" else _parse_toml(block, first, end)
    key_lines = _key_lines(lines[start + 1 : end], first, kind)
    return FrontMatter(
        meta=meta,
        body="\n".join(lines[end + 1 :]),
        body_line=end + 2,
        key_lines=key_lines,
        format=kind,
        start_line=start + 1,
    )


# Python-Markdown's meta extension, which Pelican's Markdown reader uses: "Key: value" lines,
# continuation lines indented four spaces, up to the first blank line.
_PELICAN_KEY = re.compile(r"^ {0,3}([A-Za-z0-9_-]+):\s*(.*)$")
_PELICAN_MORE = re.compile(r"^ {4,}(.*)$")


def _pelican_header(lines: list[str], start: int) -> FrontMatter | None:
    """Pelican's metadata header from ``lines[start]`` on, or None when those lines are not
    one (each line up to the first blank one must be ``Key: value`` or a continuation).

    Keys are kept as written (Pelican, like the posts module, reads them case-insensitively);
    values are strings, continuation lines joined with a space; a key written twice (in any
    case) keeps its first value.
    """
    meta: dict[str, Any] = {}
    seen: set[str] = set()
    key_lines: dict[str, int] = {}
    key = ""
    end = start
    while end < len(lines) and lines[end].strip():
        line = lines[end].rstrip()
        more = _PELICAN_MORE.match(line)
        found = None if more else _PELICAN_KEY.match(line)
        if more and key:
            meta[key] = f"{meta[key]} {more.group(1).strip()}".strip()
        elif found:
            key = found.group(1)
            if key.lower() in seen:
                key = ""  # a repeated key: its continuation lines go with it, unread
            else:
                seen.add(key.lower())
                meta[key] = found.group(2).strip()
                key_lines[key] = end + 1
        else:
            return None
        end += 1
    return FrontMatter(
        meta=meta,
        body="\n".join(lines[end + 1 :]),
        body_line=end + 2,
        key_lines=key_lines,
        format="pelican",
        start_line=start + 1,
    )


def _parse_yaml(block: str, first: int) -> dict[str, Any]:
    try:
        data = yaml.load(block, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except _Refused as exc:
        raise FrontMatterError(first + exc.line, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first + mark.line if mark else first
        column = f" (column {mark.column + 1})" if mark else ""
        problem = exc.problem or exc.context or "cannot parse"
        raise FrontMatterError(line, f"invalid YAML: {problem}{column}") from None
    except yaml.reader.ReaderError as exc:
        line = first + block.count("\n", 0, exc.position)
        char = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
        raise FrontMatterError(
            line, f"invalid YAML: control character U+{char:04X} is not allowed"
        ) from None
    except (yaml.YAMLError, ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise FrontMatterError(first, f"invalid YAML: {exc}") from None
    return _as_mapping(data, first - 1)


def _parse_toml(block: str, first: int, end: int) -> dict[str, Any]:
    deep = toml_nesting(block)
    if deep is not None:
        raise FrontMatterError(
            first + deep - 1, f"invalid TOML: nested more than {MAX_NESTING} levels deep"
        )
    try:
        return tomllib.loads(block)
    except RecursionError:  # toml_nesting missed a construct: still name the file
        raise FrontMatterError(first, "invalid TOML: nested too deeply") from None
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_AT.search(message)
        if found:
            line = first + int(found.group(1)) - 1
            message = _TOML_AT.sub("", message) + f" (column {found.group(2)})"
        else:
            line = max(first, end)  # "at end of document": the last line of the block
            message = _TOML_END.sub("", message)
        raise FrontMatterError(line, f"invalid TOML: {message}") from None


def _as_mapping(data: Any, line: int) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        names: dict[type, str] = {list: "a list", str: "a string"}
        kind = names.get(type(data), type(data).__name__)
        raise FrontMatterError(
            line, f"front matter must be a mapping of keys to values, got {kind}"
        )
    return {str(k): v for k, v in data.items()}


def _key_lines(block_lines: list[str], first: int, kind: str) -> dict[str, int]:
    """Where each top-level key is written, found by scanning (parsers do not keep it)."""
    found: dict[str, int] = {}
    for offset, raw in enumerate(block_lines):
        if kind == "yaml":
            if raw[:1].isspace():
                continue  # nested value or continuation
            m = _YAML_KEY.match(raw)
        else:
            header = _TOML_TABLE.match(raw)
            if header:
                # A table header: its name is a top-level key; what follows are not.
                found.setdefault(header.group(1).strip().strip("\"'"), first + offset)
                break
            m = _TOML_KEY.match(raw)
        if m:
            key = (m.group(1) or m.group(2) or m.group(3) or "").strip()
            found.setdefault(key, first + offset)
    return found


# --- typed values ------------------------------------------------------------------------

_LOOSE_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*"
    r"(Z|UTC|GMT|[+-]\d{2}:?\d{2})?$",
    re.IGNORECASE,
)


def meta_string(meta: dict[str, Any], key: str, error: Report) -> str | None:
    """A string value; numbers are taken as written (``title: 1984``), other types are errors."""
    value = meta.get(key)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    error(key, f"expected a string, got {describe(value)}")
    return None


def describe(value: Any) -> str:
    """A value as shown in a message: "a list", "a mapping", else its repr."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def meta_datetime(value: Any, tz: tzinfo, key: str, error: Report) -> datetime | None:
    """An aware datetime from YAML/TOML natives or ISO 8601 / Jekyll-style strings.

    Naive values are wall-clock time in the site's timezone; a plain date is its midnight.
    """
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=tz)
    if isinstance(value, date):
        return datetime.combine(value, time(0), tzinfo=tz)
    if isinstance(value, str):
        parsed = parse_datetime_string(value.strip())
        if parsed is not None:
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
    shown = repr(value) if isinstance(value, str | int | float | bool) else describe(value)
    error(key, f"expected ISO 8601, got {shown}")
    return None


def parse_datetime_string(value: str) -> datetime | None:
    """ISO 8601 (``fromisoformat``), plus Jekyll/Hugo forms such as
    ``2024-05-01 18:15:32 +0530`` and ``2024-05-01 18:15``; None when it is neither."""
    if not value:
        return None
    loose = _LOOSE_DATETIME.match(value)
    if loose:
        day, clock, offset = loose.groups()
        if len(clock.split(":")[0]) == 1:
            clock = "0" + clock
        offset = (offset or "").upper()
        if offset in ("Z", "UTC", "GMT"):
            offset = "+00:00"
        elif offset and ":" not in offset:
            offset = offset[:3] + ":" + offset[3:]
        value = f"{day}T{clock}{offset}"
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None

"""Names as fieldfeed writes them: URL slugs, tag slugs, tag spellings and header-safe text.

Shared ground: the site (post slugs, tag feeds), the store (subscribers' tag filters, display
names) and the mail (List-Id, headers) must agree on these, so they live below all of them.
Pure: strings in, strings out.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["header_text", "same_tag", "slugify", "tag_slug"]

# Letters NFKD does not decompose into ASCII, spelled the way a reader would type them.
_TRANSLIT = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "ł": "l",
        "Ł": "L",
        "þ": "th",
        "Þ": "TH",
        "ı": "i",
        "ħ": "h",
        "Ħ": "H",
    }
)
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_NON_WORD = re.compile(r"[\W_]+")


def slugify(text: str) -> str:
    """A URL slug: lowercase ASCII letters, digits and single dashes.

    Accents are transliterated ("Café" -> "cafe"). Idempotent, so "Distributed Systems" and
    "distributed-systems" give one slug. Never empty: text with nothing transliterable (say,
    only CJK or emoji) gets a short stable hash of the text instead.
    """
    ascii_text = (
        unicodedata.normalize("NFKD", text.translate(_TRANSLIT))
        .encode("ascii", "ignore")
        .decode("ascii")
        .lower()
    )
    slug = _NON_ALNUM.sub("-", ascii_text).strip("-")
    if slug:
        return slug
    # Hash a normalised form, so case and separators do not matter here either.
    key = _NON_WORD.sub("-", unicodedata.normalize("NFKC", text).casefold()).strip("-")
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"x-{digest[:8]}"


# Symbols that tell tags apart ("C", "C++", "C#"): spelled out in tag slugs instead of
# dropped. "#" only after a letter, digit or "+" (C#, F#): a leading one is a hashtag mark.
_TAG_WORDS = {"+": "plus", "#": "sharp", "&": "and", "@": "at", "%": "percent"}
_TAG_SYMBOL = re.compile(r"[+&@%]|(?<=[^\W_]|\+)#")
_TAG_SEPARATORS = re.compile(r"[\s_-]+")


def tag_slug(name: str) -> str:
    """The slug of a tag: its feed lives at ``tags/<slug>/``.

    :func:`slugify` with ``+``, ``#``, ``&``, ``@`` and ``%`` spelled out ("C++" ->
    "c-plus-plus", "C#" -> "c-sharp", "R&D" -> "r-and-d"), so tags that differ only by
    those symbols get feeds of their own instead of merging into "c". A tag without them
    keeps its slug (and feed URL). Idempotent. Only tags: post slugs and the List-Id keep
    :func:`slugify`, whose URLs must not move.
    """
    spelled = _TAG_SYMBOL.sub(lambda m: f" {_TAG_WORDS[m.group()]} ", name)
    return slugify(spelled)


def same_tag(a: str, b: str) -> bool:
    """Whether two spellings are one tag by PRODUCT.md's rule: they differ at most by case,
    spaces, hyphens and underscores ("Distributed Systems", "distributed-systems").
    Spellings that share a slug but are not the same tag ("Node.js", "Node JS") merge
    into one feed all the same; ``check`` warns about them."""

    def key(text: str) -> str:
        return _TAG_SEPARATORS.sub("-", unicodedata.normalize("NFKC", text).casefold()).strip("-")

    return key(a) == key(b)


# Categories that never belong in a header value: controls (CR, LF, NUL, \v, \f, \x1c-\x1f,
# U+0085, ...), line and paragraph separators (U+2028, U+2029) and lone surrogates.
_BREAKING = frozenset(("Cc", "Zl", "Zp", "Cs"))


def header_text(value: str) -> str:
    """``value`` as it may appear in a header: every control character, line separator or
    lone surrogate becomes a space, runs of whitespace become one space, ends are stripped.

    Idempotent. This is the normalised form a reader sees after decoding the header.
    """
    if not value.isascii() or not value.isprintable():
        value = "".join(" " if unicodedata.category(c) in _BREAKING else c for c in value)
    return " ".join(value.split())

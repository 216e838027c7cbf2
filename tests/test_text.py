"""Text helpers: slugs, control characters, plain text from HTML, summaries, read time."""

from __future__ import annotations

import re

import lxml.etree
from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.names import same_tag, slugify, tag_slug
from fieldfeed.site.text import (
    html_to_text,
    read_minutes,
    strip_control_chars,
    summarize,
    word_count,
)

SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# --- slugify -------------------------------------------------------------------------------


def test_slug_examples() -> None:
    assert slugify("Distributed Systems") == "distributed-systems"
    assert slugify("distributed-systems") == "distributed-systems"
    assert slugify("  Café au lait!  ") == "cafe-au-lait"
    assert slugify("Straße & Ørsted") == "strasse-orsted"
    assert slugify("C++ / Rust: 2024") == "c-rust-2024"


def test_slug_never_empty_and_stable() -> None:
    assert SLUG.match(slugify("日本語"))
    assert slugify("日本語") == slugify("日本語")
    assert slugify("日本語") != slugify("中文")
    assert SLUG.match(slugify(""))
    assert SLUG.match(slugify("---"))


@given(st.text())
def test_slug_is_idempotent_and_clean(text: str) -> None:
    slug = slugify(text)
    assert SLUG.match(slug), slug
    assert slugify(slug) == slug


@given(st.text(alphabet=st.characters(categories=["L", "N", "Zs"])))
def test_slug_ignores_case_and_separators(text: str) -> None:
    assert slugify(text.upper()) == slugify(text.lower()) or not text.isascii()
    assert slugify(text.replace(" ", "-")) == slugify(text)


# --- tag slugs (issue 7, item 15) ----------------------------------------------------------


def test_tag_slug_spells_out_symbols_that_tell_tags_apart() -> None:
    assert [tag_slug(t) for t in ("C", "C++", "C#", "F#", "R&D", "@home", "100%")] == [
        "c", "c-plus-plus", "c-sharp", "f-sharp", "r-and-d", "at-home", "100-percent",
    ]  # fmt: skip
    assert tag_slug("#python") == "python"  # a leading "#" is a hashtag mark
    assert tag_slug("Distributed Systems") == tag_slug("distributed-systems")


@given(st.text())
def test_tag_slug_is_idempotent_and_clean(text: str) -> None:
    slug = tag_slug(text)
    assert SLUG.match(slug), slug
    assert tag_slug(slug) == slug


@given(st.text().filter(lambda t: not any(c in t for c in "+#&@%")))
def test_tags_without_those_symbols_keep_their_feed_urls(text: str) -> None:
    assert tag_slug(text) == slugify(text)


@given(st.text(alphabet="abcXYZ019 -_+#&@%.", min_size=1), st.data())
def test_the_same_tag_always_has_one_slug(text: str, data: st.DataObject) -> None:
    """PRODUCT.md: spellings that differ by case, spaces and hyphens are one tag."""
    other = "".join(
        data.draw(st.sampled_from([c.upper(), c.lower()])) if c.isalpha() else c for c in text
    ).replace(" ", data.draw(st.sampled_from([" ", "-", "  "])))
    assert same_tag(text, other)
    assert tag_slug(text) == tag_slug(other)


# --- control characters --------------------------------------------------------------------


def test_strip_control_chars_counts() -> None:
    assert strip_control_chars("a\x00b\x1fc\td\ne\rf\ufffe\uffff") == ("abc\td\ne\rf", 4)
    assert strip_control_chars("plain ünïcode 🙂") == ("plain ünïcode 🙂", 0)
    assert strip_control_chars("lone \ud800 surrogate") == ("lone  surrogate", 1)


@given(st.text())
def test_stripped_text_is_xml_compatible(text: str) -> None:
    clean, removed = strip_control_chars(text)
    assert removed == len(text) - len(clean)
    element = lxml.etree.Element("t")
    element.text = clean  # raises ValueError on XML-invalid characters
    lxml.etree.tostring(element)


# --- html_to_text --------------------------------------------------------------------------


def test_html_to_text_paragraphs_entities_and_code() -> None:
    html = (
        "<h2 id='x'>Intro</h2><p>Fish &amp; chips, <code>x &lt; y</code>"
        '<sup id="fnref:1"><a class="footnote-ref" href="#fn:1">1</a></sup>.</p>'
        "<pre><code>drop_me()</code></pre>"
        "<ul><li>one</li><li>two\n   lines</li></ul>"
        '<div class="footnote"><hr><ol><li id="fn:1"><p>the note</p></li></ol></div>'
    )
    assert html_to_text(html) == "Intro\n\nFish & chips, x < y.\n\none\n\ntwo lines"


def test_html_to_text_keeps_a_table_row_on_one_line() -> None:
    html = "<table><tr><th>a</th><th>b</th></tr><tr><td>c</td><td>d&amp;e</td></tr></table><p>f</p>"
    assert html_to_text(html) == "a b\n\nc d&e\n\nf"


def test_html_to_text_survives_broken_markup() -> None:
    assert html_to_text("<p>a <b>b <i>c</p> d</b> <pre>x") == "a b c\n\nd"


@given(st.text())
def test_html_to_text_never_crashes(text: str) -> None:
    html_to_text(text)


# --- summarize -----------------------------------------------------------------------------


def test_summarize_examples() -> None:
    assert summarize("short text", 50) == "short text"
    assert summarize("one two three four", 9) == "one two…"
    assert summarize("one two three four", 7) == "one two…"
    assert summarize("one two, three four", 9) == "one two…"
    assert summarize("para one.\n\npara two.", 100) == "para one.\n\npara two."
    assert summarize("para one.\n \n\npara two.", 10) == "para one.…"
    assert summarize(" a\n b \n\t\n c ", 100) == "a b\n\nc"
    assert summarize("Supercalifragilistic", 5) == "Super…"


words = st.lists(
    st.text(alphabet=st.characters(categories=["L", "N", "P"]), min_size=1, max_size=12),
    max_size=60,
)


@given(words, st.integers(min_value=1, max_value=200))
def test_summary_within_limit_and_whole_words(parts: list[str], limit: int) -> None:
    text = " ".join(parts)
    summary = summarize(text, limit)
    assert len(summary) <= limit + 1
    if summary.endswith("…") and summary != text:
        kept = summary[:-1]
        if len(parts[0]) <= limit:
            # Only whole words: the kept text is a prefix of the text ending at a word end.
            assert text.startswith(kept)
            assert kept == "" or len(kept) == len(text) or text[len(kept)] in " ,;:–—-"
    else:
        assert summary == text


@given(st.lists(words, min_size=1, max_size=5), st.integers(min_value=1, max_value=400))
def test_summary_keeps_paragraph_breaks(paras: list[list[str]], limit: int) -> None:
    """Cut or not, a summary is a prefix of the paragraphs joined by blank lines: no paragraph
    glued to the next, no break lost."""
    texts = [" ".join(p) for p in paras if p]
    joined = "\n\n".join(texts)
    summary = summarize("\n\n \n".join(texts), limit)
    kept = summary.removesuffix("…")
    assert joined.startswith(kept)
    assert summary == joined or summary.endswith("…")


@given(st.text(), st.integers(min_value=-5, max_value=500))
def test_summarize_never_crashes(text: str, limit: int) -> None:
    assert len(summarize(text, limit)) <= max(limit, 1) + 1


# --- word count and read time --------------------------------------------------------------


def test_read_time_examples() -> None:
    assert word_count("  one two\n three ") == 3
    assert read_minutes(0, 230) == 1
    assert read_minutes(230, 230) == 1
    assert read_minutes(231, 230) == 2


@given(st.integers(min_value=0, max_value=10**6), st.integers(min_value=0, max_value=10**6))
def test_read_time_monotonic(a: int, b: int) -> None:
    small, large = sorted((a, b))
    assert 1 <= read_minutes(small, 230) <= read_minutes(large, 230)

"""Break points in long words for mail (fieldfeed.mail.wordbreaks): the Outlook fallback.

The layout itself is measured in a real browser by tests/test_layout_chromium.py; these check
the text: nothing lost or changed, every long run broken, short words left alone.
"""

from __future__ import annotations

import html
import re
import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from fieldfeed.mail.wordbreaks import CHUNK, LONG_RUN, breakable, mail_text

URL = "https://example.org/a/very/long/path/" + "segment-" * 20 + "?q=1&x=<y>"
HASH = "3f9a1c7e" * 11 + "ab"  # 90 characters


def unbroken(markup: str) -> str:
    return html.unescape(markup.replace("<wbr>", ""))


def test_short_words_are_only_escaped() -> None:
    text = "Notes on VACUUM & autovacuum <for people in a hurry>"
    assert breakable(text) == html.escape(text, quote=True)
    assert "<wbr>" not in breakable("x" * LONG_RUN)


def test_a_hash_gets_a_break_every_chunk() -> None:
    out = str(breakable(f"commit {HASH} fixed it"))
    assert out.startswith("commit 3f9a1c7e3f9a<wbr>1c7e")
    assert all(len(piece) <= CHUNK for piece in out.split(" ")[1].split("<wbr>"))
    assert unbroken(out) == f"commit {HASH} fixed it"


def test_a_url_breaks_after_its_punctuation_and_stays_escaped() -> None:
    out = str(breakable(URL))
    assert "https:<wbr>/<wbr>/<wbr>example.<wbr>org/<wbr>a/<wbr>" in out
    assert "&amp;<wbr>x=<wbr>&lt;y&gt;" in out
    assert "<y>" not in out.replace("<wbr>", "")
    assert unbroken(out) == URL


def test_combined_characters_are_never_split() -> None:
    accented = "e\u0301" * 30  # é as e + combining acute
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 10  # ZWJ sequences
    for text in (accented, family, "\U0001f44d\U0001f3fd" * 20):
        out = str(breakable(text))
        assert "<wbr>" in out
        for piece in out.split("<wbr>")[1:]:
            assert not unicodedata.combining(piece[0]) and piece[0] != "\u200d"
            assert unicodedata.category(piece[0]) not in ("Mn", "Mc", "Me", "Cf", "Sk")
        assert unbroken(out) == text


def test_mail_text_keeps_paragraphs() -> None:
    assert mail_text("One <a>.\n\nTwo.") == "One &lt;a&gt;.<br><br>Two."
    assert mail_text("") == ""


@given(st.text(max_size=300))
def test_nothing_is_lost_and_nothing_unescaped(text: str) -> None:
    out = str(breakable(text))
    assert unbroken(out) == text
    assert "<" not in out.replace("<wbr>", "")


plain_chars = st.characters(exclude_categories=("Mn", "Mc", "Me", "Cf", "Cs", "Sk"))


@given(st.text(plain_chars, max_size=300))
def test_every_long_run_is_broken(text: str) -> None:
    """Without combining marks, no piece between break points is longer than CHUNK inside
    a run longer than LONG_RUN."""
    out = str(breakable(text))
    for run in re.findall(r"\S+", out):
        pieces = [html.unescape(p) for p in run.split("<wbr>")]
        if len("".join(pieces)) > LONG_RUN:
            assert max(len(p) for p in pieces) <= CHUNK
        else:
            assert len(pieces) == 1

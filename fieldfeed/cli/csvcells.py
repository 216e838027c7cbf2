"""CSV cells that a spreadsheet shows as text, never runs as a formula (CSV injection).

Names come from the public subscribe form, so ``=HYPERLINK("http://evil.example","x")`` is
a name someone will type. Excel, LibreOffice and Google Sheets run a cell that starts with
``=``, ``+``, ``-`` or ``@`` (and some also after a leading tab or CR) as a formula. Following
OWASP's CSV-injection guidance, such a cell is written with a single quote in front, which
spreadsheets read as "this is text" and do not display.

The quote must not pile up when our own export is imported and exported again, so the
mapping is made exactly reversible: a cell that starts with any number of quotes followed by
one of those characters gets one more quote on the way out (:func:`neutralize`), and
:func:`restore` takes exactly one off on the way in. A value that really starts with
``'=`` therefore survives the round trip too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol

#: Characters that make a spreadsheet read a cell as a formula (OWASP: = + - @ tab CR).
FORMULA_START = "=+-@\t\r"
_NEEDS_QUOTE = re.compile("'*[" + re.escape(FORMULA_START) + "]")
_QUOTED = re.compile("'+[" + re.escape(FORMULA_START) + "]")


class _RowWriter(Protocol):
    def writerow(self, row: Iterable[str], /) -> object: ...


def neutralize(cell: str) -> str:
    """``cell`` as it is written to CSV: a quote in front if a spreadsheet would run it."""
    return "'" + cell if _NEEDS_QUOTE.match(cell) else cell


def restore(cell: str) -> str:
    """The value a cell written by :func:`neutralize` held (other cells are unchanged)."""
    return cell[1:] if _QUOTED.match(cell) else cell


def write_safe_row(writer: _RowWriter, row: Iterable[str]) -> None:
    """Write one row with every cell neutralized: the one way our CSV exports write rows."""
    writer.writerow([neutralize(cell) for cell in row])

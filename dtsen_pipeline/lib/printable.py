"""How a name from outside (a delivered file's, a folder's, a sheet's) is shown on a terminal, in a
log, a message or Dagster metadata: control characters escaped, so a file named with an ANSI escape
sequence or a line break cannot recolour, rewrite or forge the operator's output.

Escaped, as Python writes them (``\\x1b``, ``\\n``, ``\\u202e``): C0 and C1 control characters and
DEL, line and paragraph separators, the bidirectional overrides and isolates (a name that reads
backwards, "Trojan Source"), and the lone surrogates Python uses for bytes that are not UTF-8 (shown
as the byte, ``\\xff``). Everything else, letters of every script included, is shown as it is.
"""

from __future__ import annotations

import re
from os import PathLike

_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029" + _BIDI + r"\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def printable(name: str | PathLike) -> str:
    """``name`` (a string or a path: its last part) safe to print; unchanged when already safe."""
    text = name if isinstance(name, str) else getattr(name, "name", None) or str(name)
    return _UNSAFE.sub(_escape, text)

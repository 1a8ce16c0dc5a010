"""Untrusted text stays text: `inert()` before a terminal, a log or Slack sees it.

Commit subjects, build output, errors and logs come from branches anyone can push. Printed raw,
their control characters drive the reader's terminal (erase or forge lines, set the title, write
the clipboard through OSC 52) and their bidi and zero-width characters make text read as
something it is not (`main` + U+200B looks like `main`). `inert()` keeps the words and shows
where such characters were:

- complete escape sequences (CSI `ESC [ ... m`, OSC `ESC ] ... BEL`, DCS/SOS/PM/APC ... ST, and
  two-character escapes, in their 7- and 8-bit forms) are removed whole: colours carry no words;
- every other C0 control but newline and tab becomes its visible Control Picture (ESC -> ␛,
  CR -> ␍, except a CR just before a newline, which is dropped), DEL becomes ␡;
- C1 controls, bidi controls, zero-width characters and lone surrogates become U+FFFD.

Pure and fast: text without any of these characters is returned as it is after one regex scan.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"

# Code points inert() never lets through (tests check the output against this set).
_C0 = [c for c in range(0x20) if c not in (0x09, 0x0A)]
_BIDI = [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_ZERO_WIDTH = [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF]
FORBIDDEN: frozenset[int] = frozenset(
    [*_C0, 0x7F, *range(0x80, 0xA0), *_BIDI, *_ZERO_WIDTH, *range(0xD800, 0xE000)]
)

_ANY_FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff]"
)
# Bodies of string sequences stop at any control that could start or end one, so a scan never
# runs past the next ESC or C1 (no quadratic work on hostile input); an unterminated one is not
# matched, and its introducer is then shown as ␛ by the table below.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]"  # CSI: colours, cursor moves, erase line
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x80-\x9f]*(?:\x07|\x1b\\|\x9c)"  # OSC, DCS, SOS, PM, APC
    # ESC 7, ESC c, ESC ( B ...; not the introducers above, whose unterminated forms stay visible
    r"|\x1b(?:[\x20-\x2f]+[\x30-\x7e]|[\x30-\x4f\x51-\x57\x59-\x5a\x5c\x60-\x7e])"
)
_TABLE: dict[int, str] = {c: chr(0x2400 + c) for c in _C0}
_TABLE[0x7F] = "\u2421"
_TABLE.update({c: REPLACEMENT for c in FORBIDDEN if c not in _TABLE})


def inert(text: str) -> str:
    """`text` with nothing a terminal or a reader could mistake for something else (see above)."""
    if not _ANY_FORBIDDEN.search(text):
        return text
    text = _SEQUENCE.sub("", text).replace("\r\n", "\n")
    return text.translate(_TABLE)


def inert_line(text: str) -> str:
    """inert() on one line: newlines and tabs become spaces (a table cell, a title)."""
    return inert(text).replace("\n", " ").replace("\t", " ")

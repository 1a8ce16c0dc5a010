"""stacks.text.inert: untrusted text stays text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from stacks.text import FORBIDDEN, inert, inert_line

ESC = "\x1b"


def test_plain_text_is_returned_as_it_is() -> None:
    for text in ("", "hello", "a\tb\nc", "日本語 ✓ 🎉", "<!channel> @here https://x.example"):
        assert inert(text) is text


def test_complete_sequences_are_removed_whole() -> None:
    assert inert("\x1b[31mred\x1b[0m") == "red"
    assert inert("\x1b[2K\rforged") == "␍forged"  # erase-line gone, the CR shown
    assert inert("a\x1b]0;pwned\x07b") == "ab"  # window title (BEL-terminated OSC)
    assert inert("a\x1b]52;c;ZXZpbA==\x1b\\b") == "ab"  # clipboard write (ST-terminated OSC)
    assert inert("a\x1b]8;;https://evil.example\x07link\x1b]8;;\x07") == "alink"  # hyperlink
    assert inert("a\x1bPq#0;1;2\x1b\\b") == "ab"  # DCS
    assert inert("a\x9b2Jb\x9d0;t\x9cc") == "abc"  # 8-bit CSI and OSC
    assert inert("a\x1b7b\x1b(Bc\x1bcd") == "abcd"  # two-character escapes


def test_other_controls_are_made_visible() -> None:
    assert inert("a\x00b\x08c\x7fd") == "a␀b␈c␡d"
    assert inert("unterminated \x1b]0;title") == "unterminated ␛]0;title"
    assert inert("lone \x1b") == "lone ␛"
    assert inert("one\r\ntwo\rthree") == "one\ntwo␍three"
    assert inert("c1 \x85 \x9c") == "c1 \ufffd \ufffd"


def test_bidi_zero_width_and_surrogates_are_replaced() -> None:
    assert inert("main\u200b") == "main\ufffd"
    assert inert("\u202eevil\u202c") == "\ufffdevil\ufffd"
    assert inert("a\u2066b\u2069c\u061cd\u200ee\ufeff") == "a\ufffdb\ufffdc\ufffdd\ufffde\ufffd"
    assert inert("x\ud800y") == "x\ufffdy"


def test_a_sequence_left_behind_by_a_removal_is_shown_not_run() -> None:
    assert inert("\x1b\x1b[0m[31mx") == "␛[31mx"


def test_inert_line_keeps_one_line() -> None:
    assert inert_line("a\nb\tc\x1b[1m") == "a b c"


def test_hostile_input_stays_fast() -> None:
    # unterminated string sequences side by side: linear, not quadratic
    for text in ("\x1b]" * 100_000, "\x9d" * 200_000, "\x1b[" * 100_000, "\x1bP" + "a" * 200_000):
        out = inert(text)
        assert not set(map(ord, out)) & FORBIDDEN


_interesting = st.sampled_from(
    ["\x1b", "[", "]", "\x07", "\\", "0", ";", "m", "P", "\x9b", "\x9c", "\x9d", "\r", "\n", "\t",
     "\u202e", "\u200b", "\ufeff", "\ud800", "a", "é", "\x7f", "\x85"]
)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.lists(_interesting).map("".join),
                 st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x2100))))
def test_output_never_carries_a_forbidden_code_point_and_is_stable(text: str) -> None:
    out = inert(text)
    assert not {ord(c) for c in out} & FORBIDDEN
    assert inert(out) == out
    assert "\n" not in inert_line(text) and inert_line(inert_line(text)) == inert_line(text)

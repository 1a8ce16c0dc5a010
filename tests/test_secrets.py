"""Env values are secrets: what is shown of one says nothing about it."""

from __future__ import annotations

import pytest

from stacks.secrets import MASK, mask


@pytest.mark.parametrize("value", ["x", "ab", "s3cret", "a" * 11, "a" * 12, "ghp_" + "z" * 36, "日本語", " " * 5000])
def test_mask_shows_neither_characters_nor_length(value: str) -> None:
    shown = mask(value)
    assert shown == MASK
    assert value[:1] not in shown and str(len(value)) not in shown


def test_values_of_any_length_look_the_same() -> None:
    assert len({mask("v" * n) for n in range(1, 200)}) == 1


def test_an_empty_value_says_so() -> None:
    assert mask("") == "(empty)"

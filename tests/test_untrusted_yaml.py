"""Unit and property tests for stacks.untrusted_yaml: branch YAML into plain JSON types only."""

import json
import re
import textwrap

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from stacks.errors import SpecError
from stacks.untrusted_yaml import MAX_DEPTH, MAX_NODES, json_text, load_untrusted

SOURCE = "f.yml"
MAX_BYTES = 64 * 1024
# What every refusal looks like: the file, then the line (or the whole file's problem).
REFUSAL = re.compile(
    rf"{re.escape(SOURCE)}: (line \d+: .+|invalid YAML at line \d+, column \d+: .+|the file is larger than .+)"
)


def load(text: str, max_bytes: int = MAX_BYTES):
    return load_untrusted(textwrap.dedent(text), SOURCE, max_bytes=max_bytes)


def refusal(text: str, max_bytes: int = MAX_BYTES) -> str:
    with pytest.raises(SpecError) as caught:
        load(text, max_bytes)
    message = str(caught.value)
    assert REFUSAL.fullmatch(message), message
    return message


# --- plain values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", None),
        ("# only a comment\n", None),
        ("---\n", None),
        ("a: 1\n", {"a": 1}),
        ("a: [1, two, 3.5, true, null, ~, '']\n", {"a": [1, "two", 3.5, True, None, None, ""]}),
        ("- {a: b}\n- [c]\n", [{"a": "b"}, ["c"]]),
        ("a: yes\nb: No\nc: on\nd: OFF\n", {"a": True, "b": False, "c": True, "d": False}),
        ("a: y\nb: n\n", {"a": "y", "b": "n"}),  # YAML 1.1 as PyYAML resolves it
        ("a: 0x1F\nb: 017\nc: 0b101\nd: -1_000\ne: +5\n", {"a": 31, "b": 15, "c": 5, "d": -1000, "e": 5}),
        ("a: 1.5\nb: -0.25\nc: 1.0e+3\nd: .5\n", {"a": 1.5, "b": -0.25, "c": 1000.0, "d": 0.5}),
        ("a: 1e3\n", {"a": "1e3"}),  # no dot: a string for PyYAML
        ("a: 22:22\nb: 1:30.5\nc: -1:00\n", {"a": "22:22", "b": "1:30.5", "c": "-1:00"}),  # sexagesimal
        ("a: 2001-12-14\nb: 2001-12-14 21:59:43.10 -5\n", {"a": "2001-12-14", "b": "2001-12-14 21:59:43.10 -5"}),
        ("a: 0b_\nb: 0x_\n", {"a": "0b_", "b": "0x_"}),  # PyYAML's constructor would crash
        ("a: =\n", {"a": "="}),
        ("a: '<<'\n", {"a": "<<"}),
        ("a: 9223372036854775807\nb: -9223372036854775808\n", {"a": 2**63 - 1, "b": -(2**63)}),
        ("a: |\n  line\n  two\n", {"a": "line\ntwo\n"}),
        ("a: \"tab\\there \\x01 \\u00e9 \\U0001F600\"\n", {"a": "tab\there \x01 é 😀"}),
        ("'1': x\n'true': y\n'null': z\n", {"1": "x", "true": "y", "null": "z"}),
        ("22:22: x\n2001-12-14: y\n", {"22:22": "x", "2001-12-14": "y"}),
        ("é: ü\n", {"é": "ü"}),
    ],
)
def test_plain_values(text, expected):
    assert load(text) == expected


def test_aliases_expand_into_fresh_copies():
    data = load("a: &x {k: [1]}\nb: *x\n")
    assert data == {"a": {"k": [1]}, "b": {"k": [1]}}
    assert data["a"] is not data["b"] and data["a"]["k"] is not data["b"]["k"]


def test_alias_as_a_key():
    assert load("- &k name\n- {*k : v}\n") == ["name", {"name": "v"}]


# --- merge keys --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("b: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", {"x": 3, "y": 2}),  # explicit keys win
        ("b: &b {x: 1, y: 2}\nc: {x: 3, <<: *b}\n", {"x": 3, "y": 2}),  # wherever they are
        ("a: &a {x: 1}\nb: &b {x: 2, z: 1}\nc: {<<: [*a, *b]}\n", {"x": 1, "z": 1}),  # earlier merges win
        ("b: 0\nc: {<<: {x: 1}, y: 2}\n", {"x": 1, "y": 2}),  # an inline mapping
        ("a: &a {x: 1}\nb: &b {<<: *a, y: 2}\nc: {<<: *b}\n", {"x": 1, "y": 2}),  # merges of merges
    ],
)
def test_merge_keys_are_resolved(text, expected):
    assert load(text)["c"] == expected


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a: &a {x: 1}\nb:\n  <<: *a\n  <<: *a\n", 4, "the merge key `<<` appears twice"),
        ("a: {<<: 3}\n", 1, "the merge key `<<` must name a mapping"),
        ("a: &a [1]\nb: {<<: *a}\n", 2, "the merge key `<<` must name a mapping"),
        ("a: &a {x: 1}\nb:\n  <<: [*a, 3]\n", 3, "the merge key `<<` must name a mapping"),
        ("a: {<<: }\n", 1, "the merge key `<<` must name a mapping"),
    ],
)
def test_bad_merges_are_refused(text, line, fragment):
    message = refusal(text)
    assert message.startswith(f"{SOURCE}: line {line}: {fragment}")


def test_merged_keys_do_not_count_as_duplicates_but_explicit_ones_do():
    assert load("a: &a {type: volume}\nb: {<<: *a, type: tmpfs}\n")["b"] == {"type": "tmpfs"}
    assert refusal("b: {type: volume, type: bind}\n") == f"{SOURCE}: line 1: the key `type` appears twice in one mapping"


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, written",
    [
        ("a: !!binary dHlwZQ==\n", "!!binary"),
        ("? !!binary dHlwZQ==\n: bind\n", "!!binary"),  # the key that became `type` for the docker CLI
        ("!!binary c291cmNl: /etc\n", "!!binary"),
        ("a: !!str 1\n", "!!str"),
        ("a: !!int '1'\n", "!!int"),
        ("a: !!python/object:os.system x\n", "!!python/object:os.system"),
        ("a: !!python/name:os.system\n", "!!python/name:os.system"),
        ("a: !foo x\n", "!foo"),
        ("a: ! x\n", "!"),
        ("a: !<tag:example.com,2000:x> 1\n", "tag:example.com,2000:x"),
        ("a: !!map {b: c}\n", "!!map"),
        ("a: !!seq [b]\n", "!!seq"),
        ("a: !!set {b, c}\n", "!!set"),
        ("a: !!omap [{b: c}]\n", "!!omap"),
        ("a: !!timestamp 2001-12-14\n", "!!timestamp"),
        ("a: !!merge <<\n", "!!merge"),
        ("a: !!null ''\n", "!!null"),
        ("%TAG !e! tag:example.com,2000:\n---\na: !e!x 1\n", "tag:example.com,2000:x"),
        ("- x\n- !!float 1\n", "!!float"),
    ],
)
def test_tags_are_refused(text, written):
    message = refusal(text)
    assert f"the YAML tag `{written}` is not allowed" in message
    assert re.match(rf"{SOURCE}: line [1-3]: ", message)


@pytest.mark.parametrize(
    "text, line, key",
    [
        ("a: 1\na: 2\n", 2, "a"),
        ("services:\n  db:\n    image: x\n    image: y\n", 4, "image"),
        ("a: {b: 1, b: 2}\n", 1, "b"),
        ("a: 1\n'a': 2\n", 2, "a"),  # quoting does not make another key
        ('"a": 1\n"\\x61": 2\n', 2, "a"),  # nor an escape
        ("- &k a\n- {a: 1, *k : 2}\n", 2, "a"),  # nor an alias
    ],
)
def test_duplicate_keys_are_refused(text, line, key):
    assert refusal(text) == f"{SOURCE}: line {line}: the key `{key}` appears twice in one mapping"


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("1: x\n", 1, "the key `1` reads as a number"),
        ("a:\n  0x10: x\n", 2, "the key `0x10` reads as a number"),
        ("1.5: x\n", 1, "the key `1.5` reads as a number"),
        ("true: x\n", 1, "the key `true` reads as a boolean"),
        ("on: x\n", 1, "the key `on` reads as a boolean"),
        ("~: x\n", 1, "the key `~` reads as null"),
        ("null: x\n", 1, "the key `null` reads as null"),
        ("? \n: x\n", 1, "the key `~` reads as null"),
        ("? [a]\n: x\n", 1, "a mapping key must be a string, not a list or a mapping"),
        ("? {a: b}\n: x\n", 1, "a mapping key must be a string, not a list or a mapping"),
        ("- &k [a]\n- {*k : x}\n", 2, "a mapping key must be a string, not a list or a mapping"),
    ],
)
def test_non_string_keys_are_refused(text, line, fragment):
    assert refusal(text).startswith(f"{SOURCE}: line {line}: {fragment}")


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ('a: "\\0"\n', 1, "a NUL character is not allowed"),
        ('a: b\nc: "x\\x00"\n', 2, "a NUL character is not allowed"),
        ('"\\0": x\n', 1, "a NUL character is not allowed"),
        ("a: b\nc: \x00\n", 2, "a NUL character is not allowed"),
        ('a: "\\ud800"\n', 1, "a lone surrogate (U+D800) is not allowed"),
        ('a:\n  "\\udfff": x\n', 2, "a lone surrogate (U+DFFF) is not allowed"),
        ('a: "\\ud83d\\ude00"\n', 1, "a lone surrogate (U+D83D) is not allowed"),  # a UTF-16 pair is two
        ("a: b\n\nc: \ud800\n", 3, "a lone surrogate (U+D800) is not allowed"),
        ("a: \x01\n", 1, "the character U+0001 is not allowed in YAML"),
        ("a: b\nc: \x7f\n", 2, "the character U+007F is not allowed in YAML"),
        ("a: \ufffe\n", 1, "the character U+FFFE is not allowed in YAML"),
        ('a: b\nc: "\\U00110000"\n', 2, "an escape in a quoted string names no Unicode character"),
    ],
)
def test_characters_the_docker_cli_cannot_read_are_refused(text, line, fragment):
    assert refusal(text).startswith(f"{SOURCE}: line {line}: {fragment}")


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a: .inf\n", 1, "the number `.inf` is not finite"),
        ("a: -.Inf\n", 1, "the number `-.Inf` is not finite"),
        ("a: .NaN\n", 1, "the number `.NaN` is not finite"),
        ("a: 1.0e+400\n", 1, "the number `1.0e+400` is not finite"),
        ("a:\n- 9223372036854775808\n", 2, "the number `9223372036854775808` is outside the 64-bit integer range"),
        ("a: -9223372036854775809\n", 1, "is outside the 64-bit integer range"),
        ("a: 0x10000000000000000\n", 1, "is outside the 64-bit integer range"),
        ("a: 0b" + "1" * 64 + "\n", 1, "is outside the 64-bit integer range"),
        ("a: " + "9" * 5000 + "\n", 1, "is outside the 64-bit integer range"),  # int() would raise ValueError
        ("a: 0" + "7" * 5000 + "\n", 1, "is outside the 64-bit integer range"),
    ],
)
def test_numbers_outside_json_are_refused(text, line, fragment):
    message = refusal(text)
    assert message.startswith(f"{SOURCE}: line {line}: the number `")
    assert fragment in message


def test_oversized_text_is_refused_before_parsing():
    # Invalid YAML past the bound: the size is what is said, so nothing was parsed.
    assert refusal("a: x\n" + "[" * 2000, max_bytes=1024) == f"{SOURCE}: the file is larger than 1 KiB (YADOCKERI_MAX_SPEC_BYTES)"
    assert refusal("a: " + "é" * 600, max_bytes=1024).endswith("larger than 1 KiB (YADOCKERI_MAX_SPEC_BYTES)")  # UTF-8 bytes
    assert load("a: " + "b" * 1000, max_bytes=1024) == {"a": "b" * 1000}
    assert refusal("x" * 1001, max_bytes=1000) == f"{SOURCE}: the file is larger than 1000 bytes (YADOCKERI_MAX_SPEC_BYTES)"


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 200, 100_000])
def test_deep_nesting_is_refused_without_recursion(depth):
    text = "[" * depth + "]" * depth
    assert refusal(text, max_bytes=10**6) == f"{SOURCE}: line 1: the file is nested more than {MAX_DEPTH} levels deep"


def test_deep_block_nesting_names_its_line():
    text = "".join(f"{' ' * level}k{level}:\n" for level in range(MAX_DEPTH + 5))
    assert refusal(text).startswith(f"{SOURCE}: line {MAX_DEPTH + 1}: the file is nested more than")


def test_nesting_up_to_the_bound_is_fine():
    text = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    value = load(text)
    for _ in range(MAX_DEPTH - 1):
        value = value[0]
    assert value == []


def test_aliases_cannot_nest_past_the_bound():
    lines = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [*a{n - 1}]" for n in range(1, MAX_DEPTH + 2)]
    assert "levels deep once aliases are expanded" in refusal("\n".join(lines) + "\n")


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 9)]
    message = refusal("\n".join(lines) + "\n")
    # a4 (line 5) is the first to expand past the bound: its 111111 values; the line of the alias.
    assert message == f"{SOURCE}: line 5: the file has more than {MAX_NODES} values once YAML aliases are expanded"


def test_refusals_inside_an_expansion_name_the_alias_line():
    # Each part is within the bound as written; the alias, 33 levels down, makes 43.
    text = "x-a: &a [[[[[[[[[[x]]]]]]]]]]\ny: " + "[" * 32 + "*a" + "]" * 32 + "\n"
    assert refusal(text) == f"{SOURCE}: line 2: the file is nested more than {MAX_DEPTH} levels deep once aliases are expanded"


@pytest.mark.parametrize(
    "text, line, fragment",
    [
        ("a: &a [*a]\n", 1, "the alias `*a` refers to the node that contains it"),
        ("a: &a\n  b: *a\n", 2, "the alias `*a` refers to the node that contains it"),
        ("a: &a {b: {c: [*a]}}\n", 1, "the alias `*a` refers to the node that contains it"),
        ("a: *nope\n", 1, "the alias `*nope` names no anchor defined before it"),
        ("a: *b\nb: &b 1\n", 1, "the alias `*b` names no anchor defined before it"),
        ("a: &a 1\nb: &a 2\n", 2, "the anchor `&a` is defined twice"),
        ("--- a\n--- b\n", 2, "only one YAML document is allowed"),
        ("a: 1\n---\nb: 2\n", 2, "only one YAML document is allowed"),
    ],
)
def test_bad_anchors_and_documents_are_refused(text, line, fragment):
    assert refusal(text).startswith(f"{SOURCE}: line {line}: {fragment}")


@pytest.mark.parametrize(
    "text, line",
    [
        ("a: {b: 1\n", 2),
        ("a:\n  b: 1\n   c: 2\n", 3),
        ("a: 'unclosed\n", 2),
        ("a: x\n\tb: tab\n", 2),
        ("- a\nb: c\n", 2),
        ("a: b: c\n", 1),
        ("%YAML 2.0\n---\na\n", 1),
    ],
)
def test_syntax_errors_name_the_line(text, line):
    assert refusal(text).startswith(f"{SOURCE}: invalid YAML at line {line}, column ")


def test_the_source_name_starts_every_message():
    with pytest.raises(SpecError, match=r"^deploy/compose\.yml: line 1: the YAML tag"):
        load_untrusted("a: !!binary eA==\n", "deploy/compose.yml", max_bytes=1024)


def test_text_only():
    with pytest.raises(TypeError):
        load_untrusted(b"a: 1", SOURCE, max_bytes=1024)  # type: ignore[arg-type]  # bytes on purpose: refused


# --- properties --------------------------------------------------------------------------

SPECIALS = [
    "\x00", "\ud800", "\udfff", "\x85", "\u2028", "\ufeff", "\ufffe", "\x7f", "\x1b", "\t", "\r", "\n", "é", "😀",
]
CHARACTERS = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.sampled_from(SPECIALS))
TOKENS = [
    "a", "b", "type", "source", ": ", ":", "- ", "-", "[", "]", "{", "}", ", ", "\n", "  ", "    ", "'", '"', "&a ", "*a",
    "&b ", "*b", "<<: ", "<<", "!!binary ", "!!str ", "!foo ", "! ", "!!python/object:os.system ", "? ", "|\n  ",
    ">\n  ", "---\n", "...\n", "#c", "~", "null", "yes", "1", "0x1F", "1.5", ".inf", "22:22", "2001-12-14", "%TAG ",
    '"\\0"', '"\\ud800"', '"\\U00110000"', "9" * 30, "\x00", "\ud800", "\t", "\x85",
]
TEXTS = st.one_of(
    st.text(CHARACTERS, max_size=200),
    st.lists(st.one_of(st.sampled_from(TOKENS), st.text(CHARACTERS, max_size=3)), max_size=60).map("".join),
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def is_plain(value, depth=0) -> bool:
    """JSON types only, string keys, within the depth bound."""
    if isinstance(value, dict):
        return depth < MAX_DEPTH and all(isinstance(k, str) and is_plain(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return depth < MAX_DEPTH and all(is_plain(v, depth + 1) for v in value)
    return value is None or isinstance(value, (str, int, float, bool))


@PROPERTY
@given(TEXTS)
@example("a: !!binary dHlwZQ==\n")
@example('a: "\\U00110000"\n')
@example("[" * 1000)
@example("a: 0b_\n")
@example("&a [*a]")
def test_any_text_gives_plain_data_or_a_clear_refusal(text):
    try:
        value = load_untrusted(text, SOURCE, max_bytes=MAX_BYTES)
    except SpecError as error:
        assert REFUSAL.fullmatch(str(error)), str(error)
        return
    assert is_plain(value)


# What a loaded document may hold: anything but NUL and lone surrogates.
TEXT_CHARACTERS = st.one_of(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    st.sampled_from([c for c in SPECIALS if c not in "\x00\ud800\udfff"]),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(TEXT_CHARACTERS, max_size=20),
)
TREES = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(TEXT_CHARACTERS, max_size=8), children, max_size=4),
    ),
    max_leaves=30,
)


@PROPERTY
@given(TREES)
def test_what_pyyaml_writes_reads_back_the_same(tree):
    # safe_dump quotes strings that would resolve to something else (timestamps, `22:22`, `yes`).
    # Escaped, not allow_unicode: PyYAML's emitter writes NEL raw, and its reader folds it.
    text = yaml.safe_dump(tree)
    assert load_untrusted(text, SOURCE, max_bytes=10**6) == tree


@PROPERTY
@given(TREES)
def test_json_text_reads_back_the_same(tree):
    # json_text is what yadockeri hands to the docker CLI; it must mean the same to a YAML reader.
    text = json_text(tree)
    expected = json.loads(text)
    if _has_float_without_dot(expected):
        return  # `1e+20` is a string in YAML 1.1; yadockeri's own output never has floats
    assert load_untrusted(text, SOURCE, max_bytes=10**6) == expected


def _has_float_without_dot(value) -> bool:
    if isinstance(value, float):
        return "." not in json.dumps(value) or "e" in json.dumps(value)
    if isinstance(value, dict):
        return any(_has_float_without_dot(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float_without_dot(v) for v in value)
    return False


TAGS = st.one_of(
    st.sampled_from(["!!binary", "!!str", "!!int", "!!map", "!!python/tuple", "!", "!x", "!!merge", "!!set"]),
    st.from_regex(r"!{1,2}[a-z][a-z0-9/:._-]{0,12}", fullmatch=True),
)


@PROPERTY
@given(TAGS, st.sampled_from(["a: {tag} x\n", "{tag} a: x\n", "- {tag} [x]\n", "a:\n  b: {tag} {{c: d}}\n",
                              "? {tag} k\n: v\n", "a: &x {tag} 1\n"]))
def test_any_tag_anywhere_is_refused_with_its_line(tag, template):
    text = template.format(tag=tag)
    with pytest.raises(SpecError) as caught:
        load_untrusted(text, SOURCE, max_bytes=MAX_BYTES)
    message = str(caught.value)
    assert REFUSAL.fullmatch(message), message
    assert "tag" in message or "invalid YAML" in message


@PROPERTY
@given(st.integers(min_value=1, max_value=300), st.sampled_from(["[{}]", "{{a: {}}}", "- {}"]))
def test_any_nesting_is_bounded(depth, shape):
    if shape == "- {}":
        text = "".join(f"{'  ' * level}-\n" for level in range(depth)) + "  " * depth + "x\n"
    else:
        opener, closer = ("[", "]") if shape.startswith("[") else ("{a: ", "}")
        text = opener * depth + "x" + closer * depth
    try:
        load_untrusted(text, SOURCE, max_bytes=10**6)
    except SpecError as error:
        assert depth > MAX_DEPTH - 1 and "levels deep" in str(error)
    else:
        assert depth <= MAX_DEPTH


def test_as_written_keeps_the_text_of_plain_numbers_and_booleans():
    text = "a: 3.10\nb: yes\nc: 0x1F\nd: \"q\"\ne: ~\nf: [1.50]\ng: 07\n"
    assert load_untrusted(text, "f.yml", max_bytes=1000, as_written=True) == {
        "a": "3.10", "b": "yes", "c": "0x1F", "d": "q", "e": None, "f": ["1.50"], "g": "07"}
    assert load_untrusted(text, "f.yml", max_bytes=1000) == {
        "a": 3.1, "b": True, "c": 31, "d": "q", "e": None, "f": [1.5], "g": 7}

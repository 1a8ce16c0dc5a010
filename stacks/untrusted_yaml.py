"""Untrusted YAML (`.yadockeri.yml`, the middleware compose file) read into plain JSON types.

A branch controls these files, and two YAML parsers that disagree are an attack: a `!!binary`
key was bytes for PyYAML (copied through unchecked) and the plain word for the docker CLI. So
this module never uses PyYAML's constructors. It reads the *event* stream (`yaml.parse` with
SafeLoader), builds its own small node tree with every bound checked on the way, and converts
that tree to str/int/float/bool/None/list/dict, refusing everything else:

- any explicit tag (`!!binary`, `!!str`, `!`, `!foo`, `!!python/...`);
- non-string keys (null, bool, number, sequence or mapping keys) and explicit duplicate keys;
- NUL characters and lone surrogates (the docker CLI's YAML parser rejects them), non-finite
  floats, integers outside int64;
- text over `max_bytes` (its UTF-8 size, checked before parsing), nesting deeper than
  MAX_DEPTH, more than MAX_NODES values once aliases are expanded (alias bombs), aliases that
  refer to the node containing them, duplicate or undefined anchors, more than one document.

Merge keys (`<<: *base`, `<<: [*a, *b]`) are resolved as YAML 1.1 says: explicit keys win,
then earlier merged mappings over later ones. Plain scalars resolve as PyYAML resolves them
(YAML 1.1 null/bool/int/float), except sexagesimal numbers (`22:22`) and timestamps
(`2001-12-14`), which stay strings as written, as Go's yaml.v2 in the docker CLI reads them.

Every refusal is a `SpecError` naming the file and the 1-based line. Nothing else escapes:
no ValueError, RecursionError (nothing here recurses deeper than MAX_DEPTH) or YAMLError.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from .errors import SpecError
from .names import echo

MAX_DEPTH = 40  # compose files nest about 7 levels; this stops "[[[[...", also after aliases
MAX_NODES = 50_000  # values after alias expansion: stops "billion laughs" files
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_TAG = "tag:yaml.org,2002:"
_RESOLVER = yaml.resolver.Resolver()
_NUL_OR_SURROGATE = re.compile("[\x00\ud800-\udfff]")
# Characters JSON leaves raw that YAML readers refuse (C1 controls, DEL, non-characters) or
# read as line breaks inside a quoted string (NEL, LS, PS), and a stray BOM.
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


# ---------------------------------------------------------------------------------------
# The node tree built from events (PyYAML's own composer recurses without bound)


@dataclass
class _Scalar:
    value: str
    plain: bool  # unquoted and untagged: resolved as null/bool/int/float/str
    line: int


@dataclass
class _Sequence:
    line: int
    items: list[_Node] = field(default_factory=list)


@dataclass
class _Mapping:
    line: int
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)
    pending: _Node | None = None  # a key waiting for its value while the mapping is built


@dataclass
class _Alias:
    name: str
    target: _Node
    line: int


_Node = _Scalar | _Sequence | _Mapping | _Alias


class _Refuse:
    """Builds the SpecError of one file: `<source>: line <n>: <what>`."""

    def __init__(self, source: str) -> None:
        self.source = source

    def at(self, line: int, message: str) -> SpecError:
        return SpecError(f"{self.source}: line {line}: {message}")

    def whole(self, message: str) -> SpecError:
        return SpecError(f"{self.source}: {message}")


def load_untrusted(text: str, source: str, *, max_bytes: int, as_written: bool = False) -> Any:
    """Parse untrusted YAML into plain JSON types; SpecError for anything else (see module doc).

    An empty document (or only comments) is None. With `as_written`, an unquoted scalar that
    YAML reads as a bool or number is its text as written (`3.10`, not 3.1; `yes`, not True):
    for values that are strings to their reader (env values, build args).
    """
    if not isinstance(text, str):
        raise TypeError(f"load_untrusted reads text, not {type(text).__name__}")
    refuse = _Refuse(source)
    _check_size(text, max_bytes, refuse)
    _check_characters(text, refuse)
    root = _build(text, refuse)
    if root is None:
        return None
    return _Converter(refuse, as_written=as_written).value(root, 1)


def json_text(value: Any) -> str:
    """JSON text (sorted keys) that YAML readers, Go's yaml.v2 in the docker CLI included, read
    as the same value: no `\\uD83D\\uDE00` pairs (ensure_ascii=False), and the characters a
    YAML reader refuses raw written as escapes. JSON cannot carry tags or anchors."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=True, allow_nan=False)
    return _YAML_UNSAFE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


# ---------------------------------------------------------------------------------------
# Before parsing


def _check_size(text: str, max_bytes: int, refuse: _Refuse) -> None:
    # len() first: a string longer than the bound in characters is too large in bytes too.
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise refuse.whole(f"the file is larger than {_size(max_bytes)} (YADOCKERI_MAX_SPEC_BYTES)")


def _check_characters(text: str, refuse: _Refuse) -> None:
    match = _NUL_OR_SURROGATE.search(text)
    if match is not None:
        raise refuse.at(_line_of(text, match.start()), _bad_character(match.group()))


def _bad_character(char: str) -> str:
    if char == "\0":
        return "a NUL character is not allowed"
    return f"a lone surrogate (U+{ord(char):04X}) is not allowed: it is not a character the docker CLI can read"


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


def _size(count: int) -> str:
    return f"{count // 1024} KiB" if count >= 1024 and count % 1024 == 0 else f"{count} bytes"


# ---------------------------------------------------------------------------------------
# Events -> nodes


class _Builder:
    """An explicit stack instead of recursion: depth is checked as each collection opens."""

    def __init__(self, refuse: _Refuse) -> None:
        self.refuse = refuse
        self.stack: list[_Sequence | _Mapping] = []
        self.anchors: dict[str, _Node] = {}
        self.open_anchors: dict[int, str] = {}  # id(collection) -> its anchor, while it is built
        self.root: _Node | None = None
        self.documents = 0

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 1
        if isinstance(event, DocumentStartEvent):
            self._document(line)
        elif isinstance(event, AliasEvent):
            self._add(self._alias(event, line))
        elif isinstance(event, NodeEvent):
            self._node(event, line)
        elif isinstance(event, (SequenceEndEvent, MappingEndEvent)):
            self._close()

    def _document(self, line: int) -> None:
        self.documents += 1
        if self.documents > 1:
            raise self.refuse.at(line, "only one YAML document is allowed (a second `---` starts another)")

    def _node(self, event: NodeEvent, line: int) -> None:
        tag = getattr(event, "tag", None)  # ScalarEvent and collection starts carry their explicit tag
        if tag is not None:
            raise self.refuse.at(line, f"the YAML tag `{_short(_tag(tag))}` is not allowed: write plain values")
        if isinstance(event, ScalarEvent):
            self._check_scalar(event.value, line)
            node: _Node = _Scalar(event.value, plain=event.implicit[0], line=line)
        elif isinstance(event, SequenceStartEvent):
            node = _Sequence(line)
        else:
            node = _Mapping(line)
        if event.anchor is not None:
            self._anchor(event.anchor, node, line)
        self._add(node)
        if isinstance(event, CollectionStartEvent):
            self._open(node, event.anchor, line)  # type: ignore[arg-type]

    def _check_scalar(self, value: str, line: int) -> None:
        # Escapes in quoted scalars (`"\0"`, `"\ud800"`) make what the raw text check cannot see.
        match = _NUL_OR_SURROGATE.search(value)
        if match is not None:
            raise self.refuse.at(line, _bad_character(match.group()))

    def _anchor(self, name: str, node: _Node, line: int) -> None:
        if name in self.anchors:
            raise self.refuse.at(line, f"the anchor `&{_short(name)}` is defined twice; use another name")
        self.anchors[name] = node

    def _alias(self, event: AliasEvent, line: int) -> _Alias:
        anchor = event.anchor or ""  # PyYAML's parser never makes an alias without one
        target = self.anchors.get(anchor)
        if target is None:
            raise self.refuse.at(line, f"the alias `*{_short(anchor)}` names no anchor defined before it")
        if id(target) in self.open_anchors:
            raise self.refuse.at(line, f"the alias `*{_short(anchor)}` refers to the node that contains it")
        return _Alias(anchor, target, line)

    def _open(self, node: _Sequence | _Mapping, anchor: str | None, line: int) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise self.refuse.at(line, f"the file is nested more than {MAX_DEPTH} levels deep")
        self.stack.append(node)
        if anchor is not None:
            self.open_anchors[id(node)] = anchor

    def _close(self) -> None:
        node = self.stack.pop()
        self.open_anchors.pop(id(node), None)

    def _add(self, node: _Node) -> None:
        if not self.stack:
            self.root = node
            return
        parent = self.stack[-1]
        if isinstance(parent, _Sequence):
            parent.items.append(node)
        elif parent.pending is None:
            parent.pending = node
        else:
            parent.pairs.append((parent.pending, node))
            parent.pending = None


def _build(text: str, refuse: _Refuse) -> _Node | None:
    builder = _Builder(refuse)
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # its reader checks every character here
        while loader.check_event():
            builder.feed(loader.get_event())
    except yaml.MarkedYAMLError as error:
        raise refuse.whole(f"invalid YAML {_where(error)}: {_problem(error)}") from None
    except yaml.reader.ReaderError as error:  # a character YAML does not allow, e.g. U+0001
        raise refuse.at(
            _line_of(text, error.position), f"the character U+{error.character:04X} is not allowed in YAML"
        ) from None
    except ValueError:  # PyYAML's chr() of an escape beyond Unicode, like "\U00110000"
        line = loader.get_mark().line + 1 if loader is not None else 1
        raise refuse.at(line, "an escape in a quoted string names no Unicode character") from None
    finally:
        if loader is not None:
            loader.dispose()
    return builder.root


def _where(error: yaml.MarkedYAMLError) -> str:
    # PyYAML counts lines from 0; editors count from 1.
    mark = error.problem_mark or error.context_mark
    return f"at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _problem(error: yaml.MarkedYAMLError) -> str:
    parts = [part for part in (error.context, error.problem) if part]
    return ", ".join(parts) or "not understood"


# ---------------------------------------------------------------------------------------
# Nodes -> plain values

_MERGE = object()  # the plain key `<<`


class _Converter:
    """Expands aliases into fresh copies (no shared objects), counting every value."""

    def __init__(self, refuse: _Refuse, *, as_written: bool = False) -> None:
        self.refuse = refuse
        self.as_written = as_written
        self.count = 0
        self.outer_alias: int | None = None  # the line of the alias being expanded, if any

    def value(self, node: _Node, depth: int) -> Any:
        """`depth` is that of the collection `node` would be (the root's is 1)."""
        if isinstance(node, _Alias) and self.outer_alias is None:
            # A refusal inside names the alias the file wrote, not a line of the anchor.
            self.outer_alias = node.line
            try:
                return self.value(node, depth)
            finally:
                self.outer_alias = None
        line = self.outer_alias or node.line
        node = self._deref(node)
        self.count += 1
        if self.count > MAX_NODES:
            raise self.refuse.at(line, f"the file has more than {MAX_NODES} values once YAML aliases are expanded")
        if isinstance(node, _Scalar):
            return self._scalar(node)
        if depth > MAX_DEPTH:
            raise self.refuse.at(line, f"the file is nested more than {MAX_DEPTH} levels deep once aliases are expanded")
        if isinstance(node, _Sequence):
            return [self.value(item, depth + 1) for item in node.items]
        return self._mapping(node, depth)

    @staticmethod
    def _deref(node: _Node) -> _Scalar | _Sequence | _Mapping:
        # An alias never names another alias: anchors sit on scalars and collections only.
        return node.target if isinstance(node, _Alias) else node  # type: ignore[return-value]

    def _scalar(self, node: _Scalar) -> Any:
        if not node.plain:
            return node.value
        value = _resolve_plain(node.value, node.line, self.refuse)
        return node.value if self.as_written and value is not None else value

    def _mapping(self, node: _Mapping, depth: int) -> dict[str, Any]:
        explicit: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        has_merge = False
        for key_node, value_node in node.pairs:
            key = self._key(key_node)
            if key is _MERGE:
                if has_merge:
                    raise self.refuse.at(key_node.line, "the merge key `<<` appears twice; write `<<: [*a, *b]`")
                has_merge = True
                for source in self._merge_sources(value_node, depth):
                    for merged_key, merged_value in source.items():
                        merged.setdefault(merged_key, merged_value)  # earlier mappings win
                continue
            if key in explicit:
                raise self.refuse.at(key_node.line, f"the key `{_short(key)}` appears twice in one mapping")
            explicit[key] = self.value(value_node, depth + 1)
        if not merged:
            return explicit
        return {**merged, **explicit}  # explicit keys win, as YAML's merge says

    def _key(self, node: _Node) -> Any:
        target = self._deref(node)
        if not isinstance(target, _Scalar):
            raise self.refuse.at(node.line, "a mapping key must be a string, not a list or a mapping")
        if not target.plain:
            return target.value
        if target.value == "<<" and not isinstance(node, _Alias):
            return _MERGE
        key = _resolve_plain(target.value, target.line, self.refuse)
        if not isinstance(key, str):
            raise self.refuse.at(
                node.line, f"the key `{_short(target.value or '~')}` reads as {_kind(key)}; "
                "a mapping key must be a string (quote it)",
            )
        return key

    def _merge_sources(self, node: _Node, depth: int) -> list[dict[str, Any]]:
        target = self._deref(node)
        candidates = target.items if isinstance(target, _Sequence) else [node]
        sources = []
        for candidate in candidates:
            if not isinstance(self._deref(candidate), _Mapping):
                # The line the reader sees: the alias, unless the list is written right there.
                line = node.line if isinstance(node, _Alias) else candidate.line
                raise self.refuse.at(line, "the merge key `<<` must name a mapping or a list of mappings (`<<: *base`)")
            sources.append(self.value(candidate, depth + 1))
        return sources


# ---------------------------------------------------------------------------------------
# Plain scalars


def _resolve_plain(text: str, line: int, refuse: _Refuse) -> Any:
    """YAML 1.1 as PyYAML resolves a plain scalar; sexagesimals and timestamps stay strings."""
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _TAG + "null":
        return None
    if tag == _TAG + "bool":
        return text.lower() in ("yes", "true", "on")
    if tag == _TAG + "int":
        return _integer(text, line, refuse)
    if tag == _TAG + "float":
        return _float(text, line, refuse)
    return text  # str, timestamp, merge and value (`=`) outside a key: the text as written


def _integer(text: str, line: int, refuse: _Refuse) -> int | str:
    digits = text.replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if ":" in digits:  # sexagesimal (`22:22`): a string for the docker CLI
        return text
    base = 10
    if digits.startswith(("0b", "0x")):
        base, digits = (2 if digits[1] == "b" else 16), digits[2:]
    elif digits.startswith("0") and digits != "0":
        base, digits = 8, digits[1:]
    if not digits:  # `0b_`: PyYAML would crash, Go reads a string
        return text
    if len(digits.lstrip("0")) > 64:  # more than 64 bits in any base; int() of it stays cheap
        raise refuse.at(line, f"the number `{_short(text)}` is outside the 64-bit integer range")
    value = sign * int(digits, base)
    if not INT64_MIN <= value <= INT64_MAX:
        raise refuse.at(line, f"the number `{_short(text)}` is outside the 64-bit integer range")
    return value


def _float(text: str, line: int, refuse: _Refuse) -> float | str:
    if ":" in text:  # sexagesimal (`1:30.5`)
        return text
    try:
        value = float(text.replace("_", "").lower().replace(".inf", "inf").replace(".nan", "nan"))
    except ValueError:
        return text
    if not math.isfinite(value):
        raise refuse.at(line, f"the number `{_short(text)}` is not finite (infinity and NaN are not allowed)")
    return value


def _tag(tag: str) -> str:
    """`tag:yaml.org,2002:binary` as it was most likely written: `!!binary`."""
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _short(text: str, limit: int = 60) -> str:
    """User text in a message: bounded, one line, no backticks, invisible characters escaped."""
    return echo(text, limit)

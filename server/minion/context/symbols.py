"""Definitions and references of one file, from tree-sitter.

`outline` gives the nested symbols of a file (the agent's `outline` tool), and
`definitions_and_references` the flat tags that the repo map links files with.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePath

from tree_sitter import Node, QueryCursor, Tree

from .languages import LANGUAGES, LanguageSpec, language_for

# A function directly inside one of these is a method.
_METHOD_CONTAINERS = frozenset({"class", "struct", "interface", "trait", "impl", "enum"})
_MAX_SIGNATURE = 200  # characters
# When several reference patterns match one name node, the first kind here wins.
_REFERENCE_KINDS = ("call", "type", "identifier")


@dataclass
class Symbol:
    kind: str  # function, method, class, struct, interface, trait, enum, module, type, macro, impl
    name: str
    line: int  # 1-based
    end_line: int  # 1-based, inclusive
    signature: str  # the definition's first line, trimmed (and its name's, see _signature)
    children: list[Symbol] = field(default_factory=list)


@dataclass(frozen=True)
class Tag:
    name: str
    kind: str  # a Symbol kind for definitions; call, type or identifier for references
    line: int  # 1-based


def outline(path: PurePath | str, source: bytes | str) -> list[Symbol]:
    """The symbols of a file, nested by range; [] when minion has no grammar for it."""
    parsed = _parse(path, source)
    if parsed is None:
        return []
    spec, tree, data = parsed
    matches = QueryCursor(spec.definitions_query).matches(tree.root_node)
    return _symbols(_definitions(matches), data)[0]


def render_outline(path: PurePath | str, source: bytes | str) -> str:
    """The `outline` tool's text: one symbol a line, with its line range, nested by indent."""
    spec = language_for(path)
    if spec is None:
        return (
            f"No outline for {path}: minion has no grammar for "
            f"'{PurePath(path).suffix or PurePath(path).name}' files. "
            f"Supported: {', '.join(sorted(_all_extensions()))}."
        )
    rows = [(f"{s.line}-{s.end_line}", depth, s.signature) for s, depth in walk(outline(path, source))]
    if not rows:
        return f"{path} ({spec.name}): no definitions found."
    width = max(len(lines) for lines, _, _ in rows)
    body = "\n".join(f"{lines:>{width}}  {'  ' * depth}{sig}" for lines, depth, sig in rows)
    return f"{path} ({spec.name})\n{body}"


def definitions_and_references(
    path: PurePath | str, source: bytes | str
) -> tuple[list[Tag], list[Tag]]:
    """Flat definition tags (impl blocks excluded) and reference tags, in file order."""
    parsed = _parse(path, source)
    if parsed is None:
        return [], []
    spec, tree, data = parsed
    tagged, captures = _tagged(spec, tree)
    symbols, name_starts = _symbols(tagged, data)
    definitions = [
        Tag(s.name, s.kind, s.line) for s, _ in walk(symbols) if s.kind != "impl"
    ]
    found = sorted(_references(captures, name_starts), key=lambda found: found[0].start_byte)
    references = [Tag(_text(data, node), kind, node.start_point.row + 1) for node, kind in found]
    return definitions, references


def analyze(spec: LanguageSpec, source: bytes) -> tuple[list[Symbol], dict[str, tuple[int, int]]]:
    """One parse and one walk for the repo map: the nested symbols, and per referenced name
    how often it is used (called, or named as a type) and merely mentioned (any other
    identifier)."""
    definitions, captures = _tagged(spec, spec.parse(source))
    symbols, seen = _symbols(definitions, source)
    uses: Counter[bytes] = Counter()
    mentions: Counter[bytes] = Counter()
    for node, kind in _references(captures, seen):
        (mentions if kind == "identifier" else uses)[source[node.start_byte : node.end_byte]] += 1
    # Sorted, so that a file's tags (and the map) never depend on capture order.
    return symbols, {
        _decode(name): (uses[name], mentions[name]) for name in sorted(uses.keys() | mentions.keys())
    }


def walk(symbols: list[Symbol], depth: int = 0):
    """Yield (symbol, depth) in file order, parents before their children."""
    for symbol in symbols:
        yield symbol, depth
        yield from walk(symbol.children, depth + 1)


def _parse(path, source) -> tuple[LanguageSpec, Tree, bytes] | None:
    spec = language_for(path)
    if spec is None:
        return None
    data = source.encode("utf-8", "surrogateescape") if isinstance(source, str) else source
    return spec, spec.parse(data), data


def _symbols(definitions: list[tuple[str, Node, Node]], source: bytes) -> tuple[list[Symbol], set[int]]:
    """Nested symbols, and the start bytes of their name nodes (which are no references)."""
    roots: list[Symbol] = []
    stack: list[tuple[int, Symbol]] = []  # (end byte, symbol) of the open containers
    for kind, node, name in definitions:
        while stack and stack[-1][0] <= node.start_byte:
            stack.pop()
        parent = stack[-1][1] if stack else None
        if kind == "function" and parent is not None and parent.kind in _METHOD_CONTAINERS:
            kind = "method"
        symbol = Symbol(
            kind=kind,
            name=_text(source, name),
            line=node.start_point.row + 1,
            end_line=end_row(node) + 1,
            signature=_signature(source, node, name),
        )
        (parent.children if parent else roots).append(symbol)
        stack.append((node.end_byte, symbol))
    return roots, {name.start_byte for _, _, name in definitions}


def _tagged(spec: LanguageSpec, tree: Tree) -> tuple[list[tuple[str, Node, Node]], dict[str, list[Node]]]:
    """The definitions (see _definitions) and the references' captures, from one walk of
    the tree: the tags query finds the definition nodes, and the definitions query run at
    each of them alone (no match starting deeper) pairs it with its name, as a walk would."""
    captures = QueryCursor(spec.tags_query).captures(tree.root_node)
    roots = dict.fromkeys(
        node for capture, nodes in captures.items() if capture.startswith("definition.") for node in nodes
    )
    cursor = QueryCursor(spec.definitions_query)
    cursor.set_max_start_depth(0)
    return _definitions(match for node in roots for match in cursor.matches(node)), captures


def _definitions(matches: Iterable[tuple[int, dict[str, list[Node]]]]) -> list[tuple[str, Node, Node]]:
    """(kind, definition node, name node) of the definitions query's ``matches``, outer
    definitions before the ones they contain."""
    found: dict[tuple[int, int], tuple[int, str, Node, Node]] = {}
    for pattern, captures in matches:
        kind = next(c.split(".", 1)[1] for c in captures if c.startswith("definition."))
        node, name = captures[f"definition.{kind}"][0], _last_name(captures["name"][0])
        key = (node.start_byte, -node.end_byte)
        # The same node matched twice (say a C prototype): the earliest pattern wins.
        if key not in found or pattern < found[key][0]:
            found[key] = (pattern, kind, node, name)
    return [found[key][1:] for key in sorted(found)]


def _references(captures: dict[str, list[Node]], seen: set[int]) -> Iterator[tuple[Node, str]]:
    """Name nodes that refer to something, each once with its first kind in _REFERENCE_KINDS,
    in no particular order. ``seen`` holds start bytes to skip (definition names); it grows."""
    for kind in _REFERENCE_KINDS:
        for node in captures.get(kind, ()):
            if node.start_byte not in seen:
                seen.add(node.start_byte)
                yield node, kind


def _signature(source: bytes, node: Node, name: Node) -> str:
    """The definition's first line, trimmed; when its name sits lower (a C return type, a
    Java annotation, a typedef's body), the name's line too: `typedef struct { … } Point;`."""
    first = _line(source, node.start_byte)
    if name.start_point.row > node.start_point.row:
        gap = " " if name.start_point.row == node.start_point.row + 1 else " … "
        first += gap + _line(source, name.start_byte)
    return first if len(first) <= _MAX_SIGNATURE else first[: _MAX_SIGNATURE - 1] + "…"


def _line(source: bytes, offset: int) -> str:
    """The whole line holding byte ``offset``, trimmed."""
    start = source.rfind(b"\n", 0, offset) + 1
    end = source.find(b"\n", offset)
    return _decode(source[start : len(source) if end < 0 else end]).strip()


def _last_name(node: Node) -> Node:
    """`area` in C++ `Shape::area`: a qualified name's own part."""
    while (inner := node.child_by_field_name("name")) is not None:
        node = inner
    return node


def end_row(node: Node) -> int:
    # Some nodes (Rust line comments, Python blocks) end at column 0 of the next line.
    row, column = node.end_point
    return row - 1 if column == 0 and row > node.start_point.row else row


def _text(source: bytes, node: Node) -> str:
    return _decode(source[node.start_byte : node.end_byte])


def _decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _all_extensions() -> set[str]:
    return {ext for spec in LANGUAGES.values() for ext in spec.extensions}

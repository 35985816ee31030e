"""Which tree-sitter grammar reads which file, and the queries minion runs on it.

Grammars come from the per-language wheels (offline, no downloads). A grammar, its
compiled queries and its parser are built on first use only: starting the language
server must not pay for eleven grammars it may never need.

Query conventions, shared by every language:

- definitions: the whole definition node is captured as ``@definition.<kind>`` and its
  name as ``@name``. Kinds: function, method, class, struct, interface, trait, enum,
  module, type, macro, and ``impl`` (a Rust impl block: a container in outlines, not a
  definition of its type).
- references: name nodes captured as ``@call``, ``@type`` or ``@identifier``. A node
  matched by several patterns takes the first of call > type > identifier.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import PurePath

from tree_sitter import Language, Parser, Query, Tree


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    extensions: tuple[str, ...]
    module: str  # the grammar wheel's import name
    entry: str  # its function returning the grammar
    definitions: str  # query source, see the module docstring
    references: str
    comment_types: frozenset[str]

    @property
    def language(self) -> Language:
        return _language(self.name)

    @property
    def definitions_query(self) -> Query:
        return _query(self.name, "definitions")

    @property
    def references_query(self) -> Query:
        return _query(self.name, "references")

    @property
    def tags(self) -> str:
        """Both queries' source in one: the repo map walks a tree once, and a query costs
        mostly its walk."""
        return self.definitions + self.references

    @property
    def tags_query(self) -> Query:
        return _query(self.name, "tags")

    def parse(self, source: bytes) -> Tree:
        return _parser(self.name).parse(source)


_JS_DEFINITIONS = """
(class_declaration name: (_) @name) @definition.class
(class name: (_) @name) @definition.class
(function_declaration name: (identifier) @name) @definition.function
(generator_function_declaration name: (identifier) @name) @definition.function
(method_definition name: (_) @name) @definition.method
(lexical_declaration
  (variable_declarator name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition.function
(variable_declaration
  (variable_declarator name: (identifier) @name
    value: [(arrow_function) (function_expression)])) @definition.function
(expression_statement
  (assignment_expression
    left: (member_expression property: (property_identifier) @name)
    right: [(arrow_function) (function_expression)])) @definition.function
"""

_JS_REFERENCES = """
(call_expression function: [
  (identifier) @call
  (member_expression property: (property_identifier) @call)])
(new_expression constructor: (identifier) @type)
(identifier) @identifier
(property_identifier) @identifier
(shorthand_property_identifier) @identifier
"""

_TS_DEFINITIONS = _JS_DEFINITIONS + """
(abstract_class_declaration name: (type_identifier) @name) @definition.class
(interface_declaration name: (type_identifier) @name) @definition.interface
(type_alias_declaration name: (type_identifier) @name) @definition.type
(enum_declaration name: (identifier) @name) @definition.enum
(internal_module name: (_) @name) @definition.module
(module name: (_) @name) @definition.module
(function_signature name: (identifier) @name) @definition.function
(method_signature name: (_) @name) @definition.method
(abstract_method_signature name: (_) @name) @definition.method
"""

_TS_REFERENCES = _JS_REFERENCES + """
(type_identifier) @type
"""

_C_FUNCTION_DECLARATORS = """[
  (function_declarator declarator: (_) @name)
  (pointer_declarator declarator: (function_declarator declarator: (_) @name))
  (pointer_declarator declarator:
    (pointer_declarator declarator: (function_declarator declarator: (_) @name)))]"""

_C_DEFINITIONS = f"""
(function_definition declarator: {_C_FUNCTION_DECLARATORS}) @definition.function
(declaration declarator: {_C_FUNCTION_DECLARATORS}) @definition.function
(struct_specifier name: (type_identifier) @name body: (_)) @definition.struct
(union_specifier name: (type_identifier) @name body: (_)) @definition.struct
(enum_specifier name: (type_identifier) @name body: (_)) @definition.enum
(type_definition declarator: (type_identifier) @name) @definition.type
(preproc_function_def name: (identifier) @name) @definition.macro
"""

_C_REFERENCES = """
(call_expression function: (identifier) @call)
(type_identifier) @type
(identifier) @identifier
(field_identifier) @identifier
"""

_CPP_DEFINITIONS = _C_DEFINITIONS + """
(class_specifier name: (type_identifier) @name body: (_)) @definition.class
(namespace_definition name: (_) @name) @definition.module
(field_declaration declarator: (function_declarator declarator: (field_identifier) @name))
  @definition.method
"""

_CPP_REFERENCES = _C_REFERENCES + """
(call_expression function: (qualified_identifier name: (identifier) @call))
(call_expression function: (field_expression field: (field_identifier) @call))
(namespace_identifier) @identifier
"""

_SPECS = [
    LanguageSpec(
        name="python",
        extensions=(".py", ".pyi"),
        module="tree_sitter_python",
        entry="language",
        definitions="""
(class_definition name: (identifier) @name) @definition.class
(function_definition name: (identifier) @name) @definition.function
""",
        references="""
(call function: [
  (identifier) @call
  (attribute attribute: (identifier) @call)])
(decorator [(identifier) @call (attribute attribute: (identifier) @call)])
(class_definition superclasses: (argument_list [
  (identifier) @type
  (attribute attribute: (identifier) @type)]))
(type (identifier) @type)
(identifier) @identifier
""",
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="javascript",
        extensions=(".js", ".mjs", ".cjs", ".jsx"),
        module="tree_sitter_javascript",
        entry="language",
        definitions=_JS_DEFINITIONS,
        references=_JS_REFERENCES,
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="typescript",
        extensions=(".ts", ".mts", ".cts"),
        module="tree_sitter_typescript",
        entry="language_typescript",
        definitions=_TS_DEFINITIONS,
        references=_TS_REFERENCES,
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="tsx",
        extensions=(".tsx",),
        module="tree_sitter_typescript",
        entry="language_tsx",
        definitions=_TS_DEFINITIONS,
        references=_TS_REFERENCES,
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="go",
        extensions=(".go",),
        module="tree_sitter_go",
        entry="language",
        definitions="""
(function_declaration name: (identifier) @name) @definition.function
(method_declaration name: (field_identifier) @name) @definition.method
(type_spec name: (type_identifier) @name type: (struct_type)) @definition.struct
(type_spec name: (type_identifier) @name type: (interface_type)) @definition.interface
(type_spec name: (type_identifier) @name
  type: [(type_identifier) (qualified_type) (generic_type) (function_type) (map_type)
         (slice_type) (array_type) (pointer_type) (channel_type)]) @definition.type
""",
        references="""
(call_expression function: [
  (identifier) @call
  (selector_expression field: (field_identifier) @call)])
(type_identifier) @type
(identifier) @identifier
(field_identifier) @identifier
""",
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="rust",
        extensions=(".rs",),
        module="tree_sitter_rust",
        entry="language",
        definitions="""
(struct_item name: (type_identifier) @name) @definition.struct
(union_item name: (type_identifier) @name) @definition.struct
(enum_item name: (type_identifier) @name) @definition.enum
(type_item name: (type_identifier) @name) @definition.type
(trait_item name: (type_identifier) @name) @definition.trait
(mod_item name: (identifier) @name) @definition.module
(function_item name: (identifier) @name) @definition.function
(function_signature_item name: (identifier) @name) @definition.method
(macro_definition name: (identifier) @name) @definition.macro
(impl_item type: (_) @name) @definition.impl
""",
        references="""
(call_expression function: [
  (identifier) @call
  (field_expression field: (field_identifier) @call)
  (scoped_identifier name: (identifier) @call)])
(macro_invocation macro: (identifier) @call)
(type_identifier) @type
(identifier) @identifier
(field_identifier) @identifier
""",
        comment_types=frozenset({"line_comment", "block_comment"}),
    ),
    LanguageSpec(
        name="java",
        extensions=(".java",),
        module="tree_sitter_java",
        entry="language",
        definitions="""
(class_declaration name: (identifier) @name) @definition.class
(record_declaration name: (identifier) @name) @definition.class
(interface_declaration name: (identifier) @name) @definition.interface
(annotation_type_declaration name: (identifier) @name) @definition.interface
(enum_declaration name: (identifier) @name) @definition.enum
(method_declaration name: (identifier) @name) @definition.method
(constructor_declaration name: (identifier) @name) @definition.method
""",
        references="""
(method_invocation name: (identifier) @call)
(object_creation_expression type: (type_identifier) @type)
(type_identifier) @type
(identifier) @identifier
""",
        comment_types=frozenset({"line_comment", "block_comment"}),
    ),
    LanguageSpec(
        name="c",
        extensions=(".c", ".h"),
        module="tree_sitter_c",
        entry="language",
        definitions=_C_DEFINITIONS,
        references=_C_REFERENCES,
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="cpp",
        extensions=(".cc", ".cpp", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++"),
        module="tree_sitter_cpp",
        entry="language",
        definitions=_CPP_DEFINITIONS,
        references=_CPP_REFERENCES,
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="ruby",
        extensions=(".rb", ".rake", ".gemspec"),
        module="tree_sitter_ruby",
        entry="language",
        definitions="""
(class name: [(constant) (scope_resolution name: (_))] @name) @definition.class
(module name: [(constant) (scope_resolution name: (_))] @name) @definition.module
(method name: (_) @name) @definition.method
(singleton_method name: (_) @name) @definition.method
""",
        references="""
(call method: (identifier) @call)
(constant) @type
(identifier) @identifier
""",
        comment_types=frozenset({"comment"}),
    ),
    LanguageSpec(
        name="lua",
        extensions=(".lua",),
        module="tree_sitter_lua",
        entry="language",
        definitions="""
(function_declaration name: [
  (identifier) @name
  (dot_index_expression field: (identifier) @name)]) @definition.function
(function_declaration name: (method_index_expression method: (identifier) @name))
  @definition.method
(assignment_statement
  (variable_list . name: [
    (identifier) @name
    (dot_index_expression field: (identifier) @name)])
  (expression_list . value: (function_definition))) @definition.function
""",
        references="""
(function_call name: [
  (identifier) @call
  (dot_index_expression field: (identifier) @call)
  (method_index_expression method: (identifier) @call)])
(identifier) @identifier
""",
        comment_types=frozenset({"comment"}),
    ),
]

LANGUAGES: dict[str, LanguageSpec] = {spec.name: spec for spec in _SPECS}
_BY_EXTENSION: dict[str, LanguageSpec] = {
    ext: spec for spec in _SPECS for ext in spec.extensions
}


def language_for(path: PurePath | str) -> LanguageSpec | None:
    """The language of ``path`` by its extension, or None when minion has no grammar."""
    return _BY_EXTENSION.get(PurePath(path).suffix.lower())


@cache
def _language(name: str) -> Language:
    spec = LANGUAGES[name]
    grammar = getattr(importlib.import_module(spec.module), spec.entry)
    return Language(grammar())


@cache
def _query(name: str, which: str) -> Query:
    return Query(_language(name), getattr(LANGUAGES[name], which))


# A Parser holds mutable state, so each thread gets its own (the language server
# answers requests from a thread pool).
_parsers = threading.local()


def _parser(name: str) -> Parser:
    cached = _parsers.__dict__.setdefault("by_name", {})
    if name not in cached:
        cached[name] = Parser(_language(name))
    return cached[name]

"""Context for the agent: tree-sitter outlines, TODOs and repo map; the repo's rule files."""

from .anchor import Anchor, render_anchor
from .languages import LANGUAGES, LanguageSpec, language_for
from .repomap import RepoMapCache, build_repo_map
from .rules import RuleSet, load_rules
from .symbols import Symbol, Tag, definitions_and_references, outline, render_outline
from .todos import DEFAULT_PATTERNS, Todo, find_todos, todo_at

__all__ = [
    "DEFAULT_PATTERNS",
    "LANGUAGES",
    "Anchor",
    "LanguageSpec",
    "RepoMapCache",
    "RuleSet",
    "Symbol",
    "Tag",
    "Todo",
    "build_repo_map",
    "definitions_and_references",
    "find_todos",
    "language_for",
    "load_rules",
    "outline",
    "render_anchor",
    "render_outline",
    "todo_at",
]

"""The repository's instructions for coding agents: AGENTS.md, CLAUDE.md, Cursor and Copilot rules.

Which files apply, in prompt order (general first, so nearer ones come later and win):

1. `.github/copilot-instructions.md`;
2. `.cursor/rules/**/*.mdc` whose front matter says `alwaysApply: true`, or whose
   `globs` match the anchor's path (rules that only have a description are for the
   agent to request, which minion does not support);
3. `AGENTS.md` then `CLAUDE.md` in each folder from the repo root down to the anchor's
   folder (a CLAUDE.md with the same text as the AGENTS.md beside it, often a symlink,
   counts once).

The total is capped; over the cap, the most general files are cut first, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

from .. import pathguard
from .repomap import repo_relative

DEFAULT_MAX_BYTES = 32_000
_FOLDER_RULES = ("AGENTS.md", "CLAUDE.md")
_COPILOT = ".github/copilot-instructions.md"
_CURSOR_RULES = ".cursor/rules"
_MIN_CUT_BYTES = 200  # below this, a cut file is dropped rather than kept as a stub


@dataclass
class RuleSet:
    files: list[tuple[str, str]] = field(default_factory=list)  # (repo-relative path, text)
    warnings: list[str] = field(default_factory=list)

    def render(self) -> str:
        return "\n\n".join(f"## {path}\n\n{text.strip()}" for path, text in self.files)


def load_rules(
    repo_root: Path, anchor_path: Path | str | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> RuleSet:
    """The rule files that apply to ``anchor_path`` (absolute or repo-relative), capped at ``max_bytes``."""
    root = Path(repo_root)
    anchor = PurePosixPath(repo_relative(root, anchor_path)) if anchor_path is not None else None
    found = [*_copilot(root), *_cursor(root, anchor), *_folder_rules(root, anchor)]
    return _cap(found, max_bytes)


def _copilot(root: Path) -> list[tuple[str, str]]:
    text = _read(root, root / _COPILOT)
    return [(_COPILOT, text)] if text else []


def _cursor(root: Path, anchor: PurePosixPath | None) -> list[tuple[str, str]]:
    applied = []
    try:
        folder = pathguard.resolve(root, _CURSOR_RULES)  # a link to ~ would be walked whole
    except pathguard.PathRefused:
        return []
    for path in sorted(folder.rglob("*.mdc")):
        fields, body = _front_matter(_read(root, path))
        always = str(fields.get("alwaysApply", "")).lower() == "true"
        globs = _globs(fields.get("globs", ""))
        matches = anchor is not None and bool(globs) and _spec(globs).match_file(str(anchor))
        if (always or matches) and body.strip():
            applied.append((f"{_CURSOR_RULES}/{path.relative_to(folder).as_posix()}", body))
    return applied


def _folder_rules(root: Path, anchor: PurePosixPath | None) -> list[tuple[str, str]]:
    folders = [PurePosixPath()]
    if anchor is not None:
        parts = anchor.parent.parts
        folders += [PurePosixPath(*parts[: i + 1]) for i in range(len(parts))]
    found = []
    for folder in folders:
        seen = set()
        for name in _FOLDER_RULES:
            text = _read(root, root / folder / name)
            if text and text not in seen:
                seen.add(text)
                found.append(((folder / name).as_posix(), text))
    return found


def _cap(found: list[tuple[str, str]], max_bytes: int) -> RuleSet:
    """Keep the nearest files whole while they fit; cut or drop the more general ones."""
    kept, warnings = [], []
    left = max_bytes
    for path, text in reversed(found):
        size = len(text.encode())
        if size <= left:
            kept.append((path, text))
            left -= size
        elif left >= _MIN_CUT_BYTES:
            kept.append((path, text.encode()[:left].decode(errors="ignore") + "\n[… cut by minion]"))
            warnings.append(f"rule file {path} cut from {size} to {left} bytes (limit {max_bytes})")
            left = 0
        else:
            warnings.append(f"rule file {path} ({size} bytes) left out: the rules exceed {max_bytes} bytes")
    return RuleSet(files=kept[::-1], warnings=warnings[::-1])


def _front_matter(text: str) -> tuple[dict[str, str | list[str]], str]:
    """The `---` header of an .mdc file as flat fields (scalars or `- item` lists), and the body."""
    match = re.match(r"---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|$)", text, re.DOTALL)
    if not match:
        return {}, text
    fields: dict[str, str | list[str]] = {}
    key = None
    for line in match.group(1).splitlines():
        if item := re.match(r"\s*-\s*(.*)$", line):
            if key is not None:
                previous = fields.get(key)
                fields[key] = [*(previous if isinstance(previous, list) else []), item.group(1)]
        elif pair := re.match(r"(\w+)\s*:\s*(.*)$", line):
            key, value = pair.groups()
            fields[key] = value.strip()
    return fields, text[match.end() :]


def _globs(value: str | list[str]) -> list[str]:
    """`*.ts, src/**` or `["*.ts", "src/**"]` or a YAML list -> patterns."""
    items = value if isinstance(value, list) else value.strip().strip("[]").split(",")
    return [g for g in (item.strip().strip("'\"").strip() for item in items) if g]


def _spec(globs: list[str]) -> pathspec.PathSpec:
    # gitignore semantics, as Cursor's globs: `*.ts` matches at any depth, `src/*.ts` does not.
    return pathspec.PathSpec.from_lines("gitignore", globs)


def _read(root: Path, path: Path) -> str:
    """The file's text; "" unless it is a regular file inside ``root``. A hostile repo may
    link AGENTS.md (or a folder above it) to ~/.ssh/id_rsa (which would go to the model) or
    make it a FIFO: host-side readers take regular files inside the tree only."""
    try:
        return pathguard.read_text(root, path)
    except pathguard.PathRefused:
        return ""

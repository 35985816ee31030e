"""The run's private HOME: empty, but for the tool config a build needs, sanitized.

Nothing of the real home is bound in. These files are copied, key by key, from an explicit
list; whatever is not on it (credentials, tokens, URL rewrites, includes) stays outside.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

# Keys of the user's global git config that git inside needs or that shape its output.
SAFE_GLOBAL_GIT = re.compile(
    r"^(user\.(name|email)|init\.defaultbranch|core\.(autocrlf|eol|safecrlf|quotepath|whitespace|editor)|"
    r"color\..*|diff\.(algorithm|renames|context|indentheuristic|colormoved)|merge\.conflictstyle|"
    r"log\.(date|decorate)|blame\.(date|coloring)|advice\..*|pull\.(rebase|ff))$"
)

# npm settings that hold or point at credentials: `_auth`, `_authToken`, `_password`,
# `username`, `email`, client certificates, and every registry-scoped `//host/:key`.
NPM_SECRET = re.compile(r"^\s*(//|_|(username|email|certfile|keyfile|cert|key)\s*=)", re.IGNORECASE)


def prepare_home(home: Path, real_home: Path) -> list[str]:
    """Fill ``home`` with the sanitized copies; the files it wrote, home-relative."""
    home.mkdir(parents=True, exist_ok=True)
    written = []
    if gitconfig := _sanitized_git_config(real_home):
        (home / ".gitconfig").write_text(gitconfig, encoding="utf-8", errors="surrogateescape")
        written.append(".gitconfig")
    if npmrc := _sanitized_npmrc(real_home / ".npmrc"):
        (home / ".npmrc").write_text(npmrc, encoding="utf-8", errors="surrogateescape")
        written.append(".npmrc")
    return written


def git_config_lines(listing: str, safe: re.Pattern[str]) -> str:
    """``git config --null --list`` output, only the keys that ``safe`` matches, as a config file."""
    lines = []
    for entry in filter(None, listing.split("\0")):
        key, _, value = entry.partition("\n")
        if safe.match(key):
            section, _, name = key.rpartition(".")
            if "." in section:  # [color "diff"] style subsections: `a.b.c` -> [a "b"] c
                head, _, sub = section.partition(".")
                section = f'{head} "{sub}"'
            quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            lines.append(f'[{section}]\n\t{name} = "{quoted}"\n')
    return "".join(lines)


def _sanitized_git_config(real_home: Path) -> str:
    """The user's global git config (``~/.gitconfig`` and the XDG one), safe keys only."""
    listing = ""
    for path in (real_home / ".gitconfig", real_home / ".config" / "git" / "config"):
        if path.is_file():
            listing += subprocess.run(
                ["git", "config", "--file", str(path), "--null", "--list"],
                capture_output=True, stdin=subprocess.DEVNULL,
            ).stdout.decode("utf-8", "surrogateescape")
    return git_config_lines(listing, SAFE_GLOBAL_GIT)


def _sanitized_npmrc(path: Path) -> str:
    try:
        text = path.read_text(errors="surrogateescape")
    except OSError:
        return ""
    return "".join(line + "\n" for line in text.splitlines() if not NPM_SECRET.match(line))

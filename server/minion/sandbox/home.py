"""The run's private HOME: empty, but for the tool config a build needs, sanitized.

Nothing of the real home is bound in. These files are copied, key by key, from an explicit
list; whatever is not on it (credentials, tokens, URL rewrites, includes) stays outside.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

# Keys of the user's global git config that git inside needs or that shape its output.
SAFE_GLOBAL_GIT = re.compile(
    r"^(user\.(name|email)|init\.defaultbranch|core\.(autocrlf|eol|safecrlf|quotepath|whitespace|editor)|"
    r"color\..*|diff\.(algorithm|renames|context|indentheuristic|colormoved)|merge\.conflictstyle|"
    r"log\.(date|decorate)|blame\.(date|coloring)|advice\..*|pull\.(rebase|ff))$"
)

# npm settings that shape an offline install or test run, and hold no credential. Everything
# else (`_auth`, `_authToken`, `//host/:key`, certificates, proxies) stays outside.
SAFE_NPM = re.compile(
    r"^\s*((@[\w.-]+:)?registry|save-exact|save-prefix|engine-strict|legacy-peer-deps|strict-peer-deps|"
    r"fund|audit|loglevel|progress|prefer-offline|offline|package-lock|ignore-scripts|update-notifier)\s*=",
    re.IGNORECASE,
)
USERINFO = re.compile(r"://[^/\s]*@")  # https://user:token@host/


def prepare_home(home: Path, real_home: Path) -> list[str]:
    """Fill ``home`` with the sanitized copies; the files it wrote, home-relative."""
    home.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((".gitconfig", _sanitized_git_config(real_home)),
                       (".npmrc", _sanitized_npmrc(real_home / ".npmrc"))):
        if text:
            _write_fresh(home / name, text.encode("utf-8", "surrogateescape"))
            written.append(name)
    return written


def _write_fresh(path: Path, data: bytes) -> None:
    """Replace whatever the agent left at ``path`` (a resumed run's HOME is the agent's):
    never write through a link it made, never into a folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def git_config_lines(listing: str, keep: Callable[[str], object]) -> str:
    """``git config --null --list`` output, only the keys ``keep`` accepts, as a config file."""
    lines = []
    for entry in filter(None, listing.split("\0")):
        key, newline, value = entry.partition("\n")
        if keep(key):
            section, _, name = key.rpartition(".")
            if "." in section:  # [color "diff"] style subsections: `a.b.c` -> [a "b"] c
                head, _, sub = section.partition(".")
                section = f'{head} "{sub}"'
            quoted = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            # A key without a value (`[core] bare`) is "true"; `= ""` would be false.
            lines.append(f'[{section}]\n\t{name} = "{quoted}"\n' if newline else f"[{section}]\n\t{name}\n")
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
    return git_config_lines(listing, SAFE_GLOBAL_GIT.match)


def _sanitized_npmrc(path: Path) -> str:
    try:
        text = path.read_text(errors="surrogateescape")
    except OSError:
        return ""
    return "".join(line + "\n" for line in text.splitlines() if SAFE_NPM.match(line) and not USERINFO.search(line))

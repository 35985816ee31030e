"""Publishing a run's branch: pushing it to the repository's remote (when the user's
`push` setting asks for it, as the run's last node) and the forge's compare page for it.

Host side: the sandbox has no network and no remote.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote, urlsplit

from ..errors import MinionError
from ..git import GitError, git
from .model import RunRecord

_SCP_LIKE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")  # git@github.com:o/r.git


def compare_url(remote_url: str, base: str, branch: str) -> str | None:
    """The web page comparing ``base`` with ``branch`` on GitHub or GitLab, else None."""
    forge = _forge_repo(remote_url)
    if forge is None:
        return None
    web, host = forge
    branch_part = quote(branch, safe="/")
    if "github" in host:
        return f"{web}/compare/{base}...{branch_part}"
    if "gitlab" in host:
        return f"{web}/-/compare/{base}...{branch_part}"
    return None


def _forge_repo(remote_url: str) -> tuple[str, str] | None:
    """(web URL of the project, host) for a remote URL in any of git's forms."""
    if "://" in remote_url:
        parts = urlsplit(remote_url)
        host, path = parts.hostname or "", parts.path
        scheme = "http" if parts.scheme == "http" else "https"  # ssh/git remotes browse over https
    elif match := _SCP_LIKE.match(remote_url):
        host, path, scheme = match["host"], match["path"], "https"
    else:
        return None
    path = path.strip("/").removesuffix(".git")
    if not host or path.count("/") < 1:
        return None
    return f"{scheme}://{host}/{path}", host


def _push_remote(repo: Path) -> str | None:
    remotes = git("remote", cwd=repo).split()
    if "origin" in remotes:
        return "origin"
    return remotes[0] if len(remotes) == 1 else None


def push_branch(record: RunRecord) -> str | None:
    """Push the run's branch (host side) and return its compare URL. Raises GitError."""
    repo = Path(record.repo)
    remote = _push_remote(repo)
    if remote is None or not record.branch:
        return None
    base_head = record.base_head
    if not base_head or git("rev-parse", f"{record.snapshot}^{{tree}}", cwd=repo) != git(
            "rev-parse", f"{base_head}^{{tree}}", cwd=repo):
        # The branch sits on the snapshot, which holds uncommitted files and unsaved buffers.
        raise MinionError(f"not pushing {record.branch}: it is based on uncommitted work (files or unsaved "
                          "buffers that were never committed); commit or review them first")
    git("push", "--quiet", remote, f"refs/heads/{record.branch}:refs/heads/{record.branch}", cwd=repo)
    return published_url(record)


def published_url(record: RunRecord) -> str | None:
    """The compare URL when the branch is on the remote at the run's head (no network)."""
    repo = Path(record.repo)
    try:
        remote = _push_remote(repo)
        if remote is None or not record.branch or not record.base:
            return None
        tracking = git("rev-parse", "--verify", "-q", f"refs/remotes/{remote}/{record.branch}", cwd=repo, check=False)
        if not tracking or tracking != git("rev-parse", f"refs/heads/{record.branch}", cwd=repo):
            return None
        return compare_url(git("remote", "get-url", remote, cwd=repo), record.base, record.branch)
    except GitError:  # the repo moved or was deleted since the run
        return None

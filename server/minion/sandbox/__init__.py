"""Run commands for the agent and the checks inside a bubblewrap sandbox, with limits.

Deny by default: a command sees what ``view.py`` lists (the system, its toolchain, the
run's worktree and private HOME) and nothing else of the host. The package is split by
mechanism:

* ``policy``: what a sandbox is asked to be (paths, limits, the environment allow-list);
* ``view`` and ``toolchain``: the filesystem it sees, as data, with the reason for each
  mount; ``home``: the private HOME's sanitized tool config; ``layers``: the writable
  places beside them (a run's ``node_modules/.cache``, a repository's tool caches);
* ``mounts``: the view rendered to a bubblewrap command line;
* ``limits``: rlimits, the process cap, the disk watch;
* ``probe``: whether bubblewrap works on this host, and what to do when it does not;
* ``process``: one command's process, its output and its end.
"""

from .explain import explain
from .limits import MemoryCap, ProcessCap, cgroup_candidates, limits_script, memory_cap, process_cap
from .mounts import GIT_MOUNT, build_bwrap_argv
from .policy import DEFAULT_DEPENDENCY_DIRS, Limits, SandboxPolicy, sandbox_env
from .process import TERM_GRACE_S, CommandResult, HeadTail, Sandbox
from .view import View, build_view, dependency_dirs

__all__ = [
    "DEFAULT_DEPENDENCY_DIRS", "GIT_MOUNT", "TERM_GRACE_S", "CommandResult", "HeadTail", "Limits", "ProcessCap",
    "Sandbox", "SandboxPolicy", "View", "build_bwrap_argv", "build_view", "dependency_dirs", "explain", "limits_script",
    "cgroup_candidates", "process_cap", "memory_cap", "MemoryCap", "sandbox_env",
]

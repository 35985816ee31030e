"""Run commands for the agent and the checks inside a bubblewrap sandbox, with limits.

The package is split by mechanism: ``policy`` (what the sandbox is asked to be),
``mounts`` (the policy rendered to a bwrap command line), ``limits`` (rlimits, the process
cap, the disk watch), ``probe`` (whether bwrap works on this host) and ``process`` (one
command's process, output and end).

The policy (see DESIGN.md, Sandbox):

* the filesystem root is read-only; ``/tmp``, ``/run`` and minion's state dir are private tmpfs;
* the run's worktree is bound read-write *at the user's repo path*, so absolute paths,
  editable installs and venv shebangs resolve to the run's copy;
* the user's ignored dependency folders (``.venv`` ...) are bound read-only at their places;
* git works read-only: the user's ``.git`` is bound read-only at ``/run/minion/git`` and the
  worktree's ``.git`` pointer file is replaced (read-only) by one that points there;
* ``HOME`` is a private writable dir; the real home stays readable (toolchains live there)
  but its secret places are masked;
* no network unless the policy says so; the environment comes from an allow-list;
* limits: a timeout that kills everything, memory and file size rlimits, a process cap,
  a cap on what the run's commands add to the disk, and output cut to a head and a tail.
"""

from .limits import ProcessCap, limits_script, pids_cgroup_candidates, process_cap
from .mounts import GIT_MOUNT, build_bwrap_argv, dependency_dirs, hidden_own_prefixes, masked_paths
from .policy import DEFAULT_DEPENDENCY_DIRS, DEFAULT_MASKED_HOME_PATHS, Limits, SandboxPolicy, sandbox_env
from .process import TERM_GRACE_S, CommandResult, Sandbox

__all__ = [
    "DEFAULT_DEPENDENCY_DIRS", "DEFAULT_MASKED_HOME_PATHS", "GIT_MOUNT", "TERM_GRACE_S", "CommandResult", "Limits",
    "ProcessCap", "Sandbox", "SandboxPolicy", "build_bwrap_argv", "dependency_dirs", "hidden_own_prefixes",
    "limits_script", "masked_paths", "pids_cgroup_candidates", "process_cap", "sandbox_env",
]

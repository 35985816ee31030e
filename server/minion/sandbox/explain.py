"""``minion sandbox explain``: the whole sandbox of a run, as text, with the reason for each part."""

from __future__ import annotations

import os
from pathlib import Path

from . import seccomp
from .layers import TOOL_CACHE_ENV
from .limits import memory_cap, process_cap
from .policy import SandboxPolicy, sandbox_env
from .view import TMPFS_MB, View

_KIND_TEXT = {"ro": "read-only", "rw": "read-write", "dev-bind": "device", "tmpfs": "tmpfs", "proc": "proc",
              "dev": "dev", "data": "read-only file", "mask": "hidden", "symlink": "link"}


def explain(policy: SandboxPolicy, view: View) -> str:
    if policy.mode == "none":
        return ('sandbox = "none": commands run UNSANDBOXED, with full access to your files, network and '
                "credentials. Nothing below applies.")
    lines = [f"The sandbox of a run of {policy.repo_path}", "", "Filesystem (nothing else of the host is visible;"
             " a deeper mount wins):"]
    for m in view.ordered():
        what = _KIND_TEXT[m.kind]
        if m.kind == "tmpfs":
            what = f"tmpfs {m.size_mb} MB"
        elif m.kind == "symlink":
            what = f"-> {m.source}"
        source = f" (from {m.source})" if m.kind in ("ro", "rw") and m.source not in (None, m.target) else ""
        lines.append(f"  {m.target!s:<40} {what:<15} {m.why}{source}")
    if view.left_out:
        lines += ["", "Not shown:"] + [f"  {path}  {why}" for path, why in view.left_out]
    lines += ["", *_writable(policy, view), "", _python_env(policy, view)]
    env = sandbox_env(policy, view.env, view.path, places=view.places)
    limits = policy.limits
    memory = ("for the whole run (a memory cgroup; /tmp and /dev/shm count)" if memory_cap().kind == "cgroup"
              else "per process only (RLIMIT_AS): no writable memory cgroup here")
    processes = {"cgroup": "a pids cgroup per command", "rlimit": "RLIMIT_NPROC in the sandbox's user namespace",
                 "none": "NOT capped: no writable pids cgroup (root)"}[process_cap().kind]
    lines += [
        "",
        f"PATH: {view.path}",
        f"Environment: {', '.join(sorted(env))} (an allow-list; API keys and tokens never enter)",
        "Network: "
        + ("the host's (network = true)" if policy.network else "none (own network namespace, loopback only)"),
        "",
        "Limits:",
        f"  memory       {limits.memory_mb} MB, {memory}",
        f"  processes    {limits.max_processes}, {processes}",
        f"  disk         {limits.max_disk_mb} MB and {limits.max_inodes} files added per run, never more than half "
        "of what is free",
        f"  time         {limits.timeout_s:g} s per command, then the whole process tree is killed",
        f"  file size    {limits.max_file_mb} MB; output {limits.output_bytes} bytes (head and tail)",
        "",
        "Kernel filter (seccomp) and namespaces:",
        "  own user, pid, ipc, uts, cgroup and mount namespaces; no capabilities; no new user namespaces;",
        "  a fresh, empty session keyring for every command",
        *(f"  {line}" for line in seccomp.describe()),
    ]
    return "\n".join(lines)


def _writable(policy: SandboxPolicy, view: View) -> list[str]:
    """Where commands may write, and how long it lasts."""
    lines = ["Writable (everything else is read-only):"]
    lines += [f"  {m.target!s:<40} {m.why} (from {m.source})" for m in view.ordered() if m.kind == "rw"]
    scratch = ", ".join(policy.limits.tmpfs_mb or TMPFS_MB)
    lines.append(f"  {scratch}: private scratch space, empty at the start of every command")
    caches = [f"{name}={view.places[name]}" for name in TOOL_CACHE_ENV]
    lines.append(f"Tool caches (this repository's, kept across its runs): {', '.join(caches)}")
    modules = view.places.get("GOMODCACHE")
    lines.append(f"Go's module cache, read-only: GOMODCACHE={modules}" if modules else
                 "Go's module cache: none found (GOMODCACHE, GOPATH/pkg/mod, ~/go/pkg/mod)")
    return lines


def _python_env(policy: SandboxPolicy, view: View) -> str:
    if policy.python_env is None:
        return "Python environment: none outside the repository (its own .venv, if any, is a dependency folder)"
    if shown := view.places.get("VIRTUAL_ENV"):
        return f"Python environment: {shown}, read-only (VIRTUAL_ENV; its bin first on PATH)"
    real = Path(os.path.realpath(policy.python_env))
    why = next(why for path, why in view.left_out if path == real)
    return f"Python environment: {real}: {why}"

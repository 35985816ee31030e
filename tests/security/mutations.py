"""The mutation check: remove one protection at a time and prove that a test fails.

It edits the tree it runs in, so run it in a throwaway clone with its own setup:

    git clone . /tmp/mut && cd /tmp/mut && make setup && .venv/bin/python tests/security/mutations.py [WORD ...]

With words, only the mutations whose description holds one of them run.

Each mutation replaces one exact snippet of the product (it must be found exactly once, so
a stale mutation fails loudly), runs the sandbox's tests until the first failure, and puts
the file back. It prints one line per mutation and exits 1 if any mutation survived.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SANDBOX = "server/minion/sandbox/"
TESTS = ["tests/security", "tests/test_sandbox.py", "tests/test_sandbox_layers.py", "tests/test_gitstore.py",
         "tests/test_seccomp.py"]

# (what the protection is, file, exact snippet, replacement)
MUTATIONS = [
    ("the host's root shown (allow-by-default)", SANDBOX + "mounts.py",
     'args: list[str] = []\n', 'args: list[str] = ["--ro-bind", "/", "/"]\n'),
    ("the real home shown", SANDBOX + "view.py",
     "    mounts = [*_system(policy), ", '    mounts = [Mount("ro", policy.real_home, "x", policy.real_home), *_system(policy), '),
    ("/etc's secrets shown", SANDBOX + "view.py",
     "for pattern in ETC_SECRETS for hit", "for pattern in [] for hit"),
    ("/proc/keys shown", SANDBOX + "view.py",
     "for p in PROC_HIDDEN if Path(p).exists()", "for p in [] if Path(p).exists()"),
    ("dependency folders followed through links", SANDBOX + "view.py",
     "if path.is_dir() and os.path.realpath(path) == os.path.normpath(path):", "if path.is_dir():"),
    ("PATH folders in the home shown", SANDBOX + "toolchain.py",
     'f"on PATH: {entry}", anywhere=False)', 'f"on PATH: {entry}", anywhere=True)'),
    ("cargo's registry token shown", SANDBOX + "toolchain.py",
     'f"{name} registry token") for secret in TOOLCHAIN_SECRETS.get(name, ())',
     'f"{name} registry token") for secret in ()'),
    ("the whole ~/.npmrc copied into HOME", SANDBOX + "home.py",
     "if SAFE_NPM.match(line) and not USERINFO.search(line)", "if line"),
    ("the whole ~/.gitconfig copied into HOME", SANDBOX + "home.py",
     "git_config_lines(listing, SAFE_GLOBAL_GIT.match)", "git_config_lines(listing, bool)"),
    ("HOME files written through the agent's links", SANDBOX + "home.py",
     "            _write_fresh(home / name, text.encode(\"utf-8\", \"surrogateescape\"))",
     "            (home / name).write_bytes(text.encode(\"utf-8\", \"surrogateescape\"))"),
    ("the user's .git instead of the private store", SANDBOX + "mounts.py",
     'files, no refs, stash, index or config of yours", store),',
     'files, no refs, stash, index or config of yours", policy.repo_path / ".git"),'),
    ("excluded blobs copied into the store", SANDBOX + "gitstore.py",
     "    _copy_info(Path(common_dir), store.path)\n    excluded = _exclude_matcher(store.exclude)\n",
     "    _copy_info(Path(common_dir), store.path)\n    excluded = _exclude_matcher(())\n"),
    ("the whole history in the store", SANDBOX + "process.py",
     "history=policy.git_history,", "history=10**6,"),
    ("the repo's whole git config in the store", SANDBOX + "gitstore.py",
     "lambda key: SAFE_GIT_CONFIG.match(key) and key not in _STORAGE_KEYS", "lambda key: True"),
    ("no seccomp filter", SANDBOX + "mounts.py",
     "    if seccomp_fd is not None:\n", "    if False:\n"),
    ("the server's session keyring inherited", SANDBOX + "process.py",
     "timeout, keyring=True)", "timeout, keyring=False)"),
    ("memory capped per process only", SANDBOX + "limits.py",
     '            return MemoryCap("cgroup", directory)', '            return MemoryCap("rlimit")'),
    ("no inode budget", SANDBOX + "limits.py",
     "if st.f_files else None", "if False else None"),
    ("unsized scratch space", SANDBOX + "mounts.py",
     'args += ["--size", str((mount.size_mb or 1) * MB), "--tmpfs", target]', 'args += ["--tmpfs", target]'),
    ("a writable root", SANDBOX + "mounts.py",
     '        "--remount-ro", "/",  # the root itself', '        # the root itself'),
    ("no pid namespace", SANDBOX + "mounts.py",
     '"--unshare-pid", "--unshare-ipc"', '"--unshare-ipc"'),
    ("no pids cap", SANDBOX + "limits.py",
     '            return ProcessCap("cgroup", directory)', '            return ProcessCap("none")'),
    ("the whole environment passed", SANDBOX + "policy.py",
     "env = {k: v for k, v in parent.items() if _env_name_allowed(k, policy.env_allow)}",
     "env = dict(parent)"),
    ("the run's layers writable from inside (a link there would steer the next bind)", SANDBOX + "view.py",
     '        mounts.append(Mount("mask", policy.layers, "the host side of the run\'s layers"))\n', ""),
    ("bytecode written into the worktree", SANDBOX + "policy.py",
     ', PYTHONDONTWRITEBYTECODE="1")', ")"),
    ("named pipes allowed (a FIFO .gitignore hangs the host's commit)", SANDBOX + "seccomp.py",
     '    ("mknodat", (Match(2, "==", stat.S_IFIFO, FILE_TYPE_BITS),), errno.EPERM, "no named pipes (FIFOs)"),\n', ""),
]


def mutate(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    if text.count(old) != 1:
        raise SystemExit(f"stale mutation: {old!r} is in {path} {text.count(old)} times, not once")
    path.write_text(text.replace(old, new))
    return text


def main() -> int:
    if subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout.strip():
        raise SystemExit("the tree has uncommitted changes: run the mutation check in a clean throwaway clone")
    chosen = [m for m in MUTATIONS if not sys.argv[1:] or any(word in m[0] for word in sys.argv[1:])]
    survived = []
    for what, rel, old, new in chosen:
        path = ROOT / rel
        original = mutate(path, old, new)
        started = time.monotonic()
        try:
            done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                                  cwd=ROOT, capture_output=True, text=True,
                                  env={**os.environ, "CI": "true"})  # as in CI, a skip fails
        finally:
            path.write_text(original)
        failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        verdict = f"caught by {failed[0].split()[1]}" if done.returncode else "SURVIVED"
        print(f"{what:48} {verdict}  ({time.monotonic() - started:.0f} s)", flush=True)
        if not done.returncode:
            survived.append(what)
    print(f"mutations: {len(chosen)} tried, {len(chosen) - len(survived)} caught, {len(survived)} survived")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())

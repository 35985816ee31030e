"""Whether bubblewrap can make a sandbox on this host, and what to do when it cannot."""

from __future__ import annotations

import functools
import shutil
import subprocess

from ..errors import SandboxUnavailable

_probe_cache: dict[str, str | None] = {}  # bwrap path -> None (works) or the error message

_MISSING_FIX = (
    "minion runs every command in a bubblewrap sandbox, but `bwrap` is not on PATH. "
    "Install it (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf "
    'install bubblewrap`; Arch: `sudo pacman -S bubblewrap`), or set `sandbox = "none"` '
    "in the minion config to run commands unsandboxed (not recommended)."
)


@functools.cache
def supports_disable_userns(bwrap: str) -> bool:
    """``--disable-userns`` came with bubblewrap 0.8 (Ubuntu 22.04 ships 0.6)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return b"--disable-userns" in done.stdout + done.stderr


def _probe_argv(bwrap: str) -> list[str]:
    """A trivial sandbox with the same namespaces as a real run."""
    disable = ["--disable-userns"] if supports_disable_userns(bwrap) else []
    return [
        bwrap, "--unshare-user", *disable, "--unshare-pid", "--unshare-ipc",
        "--unshare-uts", "--unshare-cgroup-try", "--unshare-net", "--die-with-parent",
        "--new-session", "--cap-drop", "ALL", "--ro-bind", "/", "/", "--proc", "/proc",
        "--dev", "/dev", "--tmpfs", "/tmp", "--", "true",
    ]


def _probe_failure_message(argv: list[str], detail: str) -> str:
    lower = detail.lower()
    if "unknown option" in lower:
        hint = "This bubblewrap is too old for minion: install bubblewrap 0.6 or newer"
    elif "slave" in lower or "mount" in lower:
        hint = (
            "This usually means minion runs inside a container that forbids new mount "
            "namespaces. Run the container with user namespaces allowed (e.g. docker "
            "`--security-opt seccomp=unconfined --security-opt apparmor=unconfined`, or "
            "`--privileged`)"
        )
    else:
        hint = (
            "The kernel refused to create user namespaces. On Ubuntu 23.10+ AppArmor "
            "restricts them: `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0` "
            "(or add an AppArmor profile for /usr/bin/bwrap); on older Debian: `sudo sysctl "
            "-w kernel.unprivileged_userns_clone=1`; also check `user.max_user_namespaces` > 0"
        )
    return (
        f"bubblewrap cannot create a sandbox on this host: `{' '.join(argv)}` failed:\n"
        f"{detail}\n{hint}, or set `sandbox = \"none\"` in the minion config to run "
        "commands unsandboxed (not recommended)."
    )



def check_available() -> None:
    """Raise SandboxUnavailable, naming the fix, unless bwrap can make a sandbox here.

    The probe result is cached per process (and per bwrap binary)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise SandboxUnavailable(_MISSING_FIX)
    if bwrap not in _probe_cache:
        argv = _probe_argv(bwrap)
        try:
            done = subprocess.run(
                argv, capture_output=True, timeout=30, stdin=subprocess.DEVNULL
            )
            detail = None if done.returncode == 0 else (
                done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            detail = str(exc)
        _probe_cache[bwrap] = None if detail is None else _probe_failure_message(argv, detail)
    if (message := _probe_cache[bwrap]) is not None:
        raise SandboxUnavailable(message)


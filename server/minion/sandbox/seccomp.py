"""The sandbox's kernel filter: a seccomp program that bwrap applies (``--seccomp FD``)
to the sandboxed command right before exec.

The namespaces and mounts decide what the sandbox sees; this decides which kernel
interfaces it may use at all. It denies, with an errno so programs fail cleanly, the calls
that reach past the namespaces (keyrings, other processes' memory, file handles), that
change the sandbox's own setup (mounts, new namespaces), that administer the host, or that
are a large kernel attack surface (io_uring, bpf, perf, userfaultfd); it limits sockets to
Unix and IP; everything else is allowed.

Other syscall ABIs: the program checks the architecture first, and a call from any ABI
but the native one kills the process (libseccomp's bad-arch action, set here to
KILL_PROCESS). On x86_64 that covers i386 calls (``int 0x80``, seen as AUDIT_ARCH_I386)
and x32 calls (native arch, but nr >= 0x40000000: libseccomp adds that check itself to
every x86_64 filter without the x32 arch). So 32-bit binaries do not run in the sandbox;
their socketcall() multiplexer could not be filtered by argument anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import os
import socket
import stat
import termios
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

import pyseccomp as sc

# (syscall names, errno, why): denied whatever the arguments.
DENIED: list[tuple[tuple[str, ...], int, str]] = [
    (("keyctl", "add_key", "request_key"), errno.EPERM,
     "kernel keyrings hold the user's credentials (Kerberos, ecryptfs, ...)"),
    (("io_uring_setup", "io_uring_enter", "io_uring_register"), errno.ENOSYS,
     "io_uring does socket() and more without passing this filter; programs fall back"),
    (("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd", "kcmp"), errno.EPERM,
     "reads, writes or compares other processes' memory and files"),
    (("perf_event_open", "bpf", "userfaultfd"), errno.EPERM,
     "large kernel attack surface, exploit helpers"),
    (("mount", "umount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen",
      "fsconfig", "fsmount", "fspick", "mount_setattr"), errno.EPERM,
     "the mount table bwrap built is final"),
    (("unshare", "setns"), errno.EPERM,
     "no new namespaces (bwrap's --disable-userns stops nested user namespaces)"),
    (("clone3",), errno.ENOSYS,
     "its namespace flags are in memory the filter cannot read; libc falls back to clone"),
    (("kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module",
      "delete_module"), errno.EPERM, "loads or replaces kernel code, reboots"),
    (("swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "lookup_dcookie"), errno.EPERM,
     "host administration"),
    (("modify_ldt", "memfd_secret", "sysfs", "uselib"), errno.EPERM,
     "rarely used kernel surface with a history of exploits"),
    (("name_to_handle_at", "open_by_handle_at"), errno.EPERM,
     "opens files by handle, past the mount namespace (the 'shocker' escape)"),
]


@dataclass(frozen=True)
class Match:
    """Argument ``arg`` (0-based) ``op`` ``value``, after ``& mask`` if one is given.

    Comparisons are on the full 64-bit register, while the kernel reads an ``int``
    argument from its low half only: without the 32-bit mask, junk in the upper half
    would slip a value past a deny.
    """

    arg: int
    op: Literal["==", "<", ">"]
    value: int
    mask: int | None = None

    def to_arg(self) -> sc.Arg:
        if self.mask is not None:
            return sc.Arg(self.arg, sc.MASKED_EQ, self.mask, self.value)
        return sc.Arg(self.arg, {"==": sc.EQ, "<": sc.LT, ">": sc.GT}[self.op], self.value)

    def __str__(self) -> str:
        masked = f"arg{self.arg} & {self.mask:#x}" if self.mask is not None else f"arg{self.arg}"
        return f"{masked} {self.op} {self.value:#x}"


def _all_but(arg: int, allowed: tuple[int, ...]) -> tuple[Match, ...]:
    """Matches that together cover every value of ``arg`` not in ``allowed``.

    libseccomp ANDs the comparisons of one rule and refuses two on the same argument
    (EINVAL), so "none of these" takes one rule per gap. A value with its upper half set
    is denied too, which only errs on the safe side.
    """
    lo, hi = min(allowed), max(allowed)
    gaps = [Match(arg, "==", v) for v in range(lo + 1, hi) if v not in allowed]
    return (Match(arg, "<", lo), *gaps, Match(arg, ">", hi))


NAMESPACE_FLAGS = {  # clone()'s flags are its first argument on x86_64 and aarch64
    "CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
SOCKET_FAMILIES = (socket.AF_UNIX, socket.AF_INET, socket.AF_INET6)
FILE_TYPE_BITS = 0o170000  # S_IFMT, the mask (Python's stat.S_IFMT is a function)

# (syscall, matches, errno, why): denied when any one of the matches holds.
DENIED_IF: list[tuple[str, tuple[Match, ...], int, str]] = [
    ("socket", _all_but(0, SOCKET_FAMILIES), errno.EAFNOSUPPORT,
     "only Unix and IP sockets: no netlink, vsock, packet, AF_ALG, bluetooth ..."),
    ("socketpair", _all_but(0, (socket.AF_UNIX,)), errno.EAFNOSUPPORT, "only Unix pairs"),
    ("ioctl", tuple(Match(1, "==", cmd, 0xFFFFFFFF) for cmd in (termios.TIOCSTI, termios.TIOCLINUX)),
     errno.EPERM, "TIOCSTI, TIOCLINUX: typing into a terminal outside"),
    ("clone", tuple(Match(0, "==", flag, flag) for flag in NAMESPACE_FLAGS.values()), errno.EPERM,
     "no new namespaces, as for unshare"),
    # git on the host opens .gitignore and .gitattributes without O_NONBLOCK: a FIFO in
    # their place would hang the host's commit for ever.
    ("mknod", (Match(1, "==", stat.S_IFIFO, FILE_TYPE_BITS),), errno.EPERM, "no named pipes (FIFOs)"),
    ("mknodat", (Match(2, "==", stat.S_IFIFO, FILE_TYPE_BITS),), errno.EPERM, "no named pipes (FIFOs)"),
]


def _nr(name: str) -> int | None:
    """The native syscall number, or None where libseccomp knows no such call (-1) or
    knows it only on other arches (a negative pseudo number)."""
    nr = sc.resolve_syscall(sc.Arch.NATIVE, name)
    return nr if nr >= 0 else None


@functools.cache
def filter_program() -> bytes:
    """The compiled classic-BPF program, built once per process."""
    flt = sc.SyscallFilter(sc.ALLOW)
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.KILL_PROCESS)
    for names, err, _ in DENIED:
        for name in names:
            if (nr := _nr(name)) is not None:
                flt.add_rule(sc.ERRNO(err), nr)
    for name, matches, err, _ in DENIED_IF:
        if (nr := _nr(name)) is not None:
            for match in matches:
                flt.add_rule(sc.ERRNO(err), nr, match.to_arg())
    with open(os.memfd_create("minion-seccomp"), "w+b", buffering=0) as out:
        flt.export_bpf(out)  # libseccomp write()s to out.fileno()
        out.seek(0)
        return out.read()


@contextlib.contextmanager
def filter_fd() -> Iterator[int]:
    """A readable fd at offset 0 holding the program, for ``bwrap --seccomp FD``.

    Pass it with ``pass_fds``. bwrap reads it to the end and the offset is shared with
    the child, so one fd serves one bwrap. A memfd, so the program's size does not matter.
    """
    fd = os.memfd_create("minion-seccomp")  # close-on-exec; pass_fds lifts that
    try:
        os.pwrite(fd, filter_program(), 0)  # pwrite: the offset stays at 0
        yield fd
    finally:
        os.close(fd)


# Prepared at import, so that join_new_session_keyring does no import, lookup or logging
# between fork and exec (a lock held by another thread of the parent would deadlock it).
_syscall = ctypes.CDLL(None, use_errno=True).syscall
_syscall.restype = ctypes.c_long
_syscall.argtypes = (ctypes.c_long, ctypes.c_long, ctypes.c_void_p)
KEYCTL_SYSCALL = _nr("keyctl")  # also for launch.py
_KEYCTL_JOIN_SESSION_KEYRING = 1


def join_new_session_keyring() -> None:
    """Give this process a fresh, empty, anonymous session keyring. For ``preexec_fn``.

    The sandbox cannot call keyctl, but the kernel searches the session keyring on the
    process's behalf too (network filesystems' credentials); this way it finds nothing of
    the user's. Failure (a kernel without keyrings) is ignored.
    """
    if KEYCTL_SYSCALL is not None:
        _syscall(KEYCTL_SYSCALL, _KEYCTL_JOIN_SESSION_KEYRING, None)


def describe() -> list[str]:
    """One line per rule, for ``minion sandbox explain``."""
    def names(calls: tuple[str, ...]) -> str:
        return ", ".join(n if _nr(n) is not None else f"({n}: not on this arch)" for n in calls)

    lines = [f"deny {names(calls)}: {errno.errorcode[err]}, {why}" for calls, err, why in DENIED]
    lines += [f"deny {names((call,))} if {' or '.join(map(str, matches))}: "
              f"{errno.errorcode[err]}, {why}" for call, matches, err, why in DENIED_IF]
    lines.append("kill the process: any syscall from another ABI (32-bit int 0x80, x32)")
    lines.append("allow everything else")
    return lines

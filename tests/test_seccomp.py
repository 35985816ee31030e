"""The sandbox's seccomp filter, in real bubblewrap: each denied call fails inside with its
errno, and the same call without the filter gets past it (a positive control), while
ordinary work still runs with it."""

from __future__ import annotations

import json
import os
import platform
import signal
import socket
import subprocess
import sys
from typing import Any

import pyseccomp
import pytest
from minion.sandbox import seccomp

# The private /tmp would hide this Python in a CI clone under /tmp: its prefixes are bound back.
BWRAP = [
    "bwrap", "--unshare-user", "--unshare-pid", "--unshare-net", "--die-with-parent",
    "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",
    *(arg for prefix in sorted({sys.prefix, sys.base_prefix}) for arg in ("--ro-bind", prefix, prefix)),
]


def bwrap_python(code: str, *args: str, filtered: bool, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """``python -c code args`` in bubblewrap, with the filter or without."""
    with seccomp.filter_fd() as fd:
        argv = [*BWRAP, *(["--seccomp", str(fd)] if filtered else []), "--",
                sys.executable, "-c", code, *args]
        return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60,
                              pass_fds=(fd,), **kwargs)


def nr(name: str) -> int:
    return pyseccomp.resolve_syscall(pyseccomp.Arch.NATIVE, name)


# Prints {label: "ok" or the errno's name} for raw syscalls and for socket.socket().
PROBE = r"""
import ctypes, errno, json, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
out = {}
for label, nr, args in json.loads(sys.argv[1]):
    ret = libc.syscall(ctypes.c_long(nr), *map(ctypes.c_long, args))
    out[label] = "ok" if ret >= 0 else errno.errorcode[ctypes.get_errno()]
for label, family, kind in json.loads(sys.argv[2]):
    try:
        socket.socket(family, kind).close()
        out[label] = "ok"
    except OSError as e:
        out[label] = errno.errorcode[e.errno]
print(json.dumps(out))
"""

BAD = 1  # an unmapped address: without the filter, most calls then fail with EFAULT
CLONE_THREAD = 0x10000  # without CLONE_SIGHAND: EINVAL before any namespace is made

# (syscall, arguments, errno with the filter). Arguments are harmless without it.
CALLS: list[tuple[str, list[int], str]] = [
    ("keyctl", [0, -3, 0], "EPERM"),  # KEYCTL_GET_KEYRING_ID of the session keyring
    ("add_key", [0, 0, 0, 0, 0], "EPERM"),
    ("request_key", [0, 0, 0, 0], "EPERM"),
    ("io_uring_setup", [1, 0], "ENOSYS"),
    ("io_uring_enter", [-1, 0, 0, 0, 0, 0], "ENOSYS"),
    ("io_uring_register", [-1, 0, 0, 0], "ENOSYS"),
    ("ptrace", [2, 0, 0, 0], "EPERM"),  # PTRACE_PEEKDATA of pid 0
    ("process_vm_readv", [0, 0, 0, 0, 0, 0], "EPERM"),
    ("process_vm_writev", [0, 0, 0, 0, 0, 0], "EPERM"),
    ("perf_event_open", [0, 0, -1, -1, 0], "EPERM"),
    ("bpf", [-1, 0, 0], "EPERM"),
    ("userfaultfd", [1 | 0x10000000], "EPERM"),  # UFFD_USER_MODE_ONLY and a bad flag
    ("mount", [BAD, BAD, BAD, 0, 0], "EPERM"),
    ("umount2", [BAD, 0], "EPERM"),
    ("pivot_root", [BAD, BAD], "EPERM"),
    ("move_mount", [-1, BAD, -1, BAD, 0], "EPERM"),
    ("open_tree", [-1, BAD, 0], "EPERM"),
    ("fsopen", [BAD, 0], "EPERM"),
    ("fsconfig", [-1, 0, 0, 0, 0], "EPERM"),
    ("fsmount", [-1, 0, 0], "EPERM"),
    ("fspick", [-1, BAD, 0], "EPERM"),
    ("mount_setattr", [-1, BAD, 0, 0, 0], "EPERM"),
    ("unshare", [0], "EPERM"),
    ("setns", [-1, 0], "EPERM"),
    ("clone3", [0, 0], "ENOSYS"),
    ("kexec_load", [0, 0, 0, 0], "EPERM"),
    ("kexec_file_load", [-1, -1, 0, 0, 0], "EPERM"),
    ("init_module", [0, 0, 0], "EPERM"),
    ("finit_module", [-1, 0, 0], "EPERM"),
    ("delete_module", [0, 0], "EPERM"),
    ("swapon", [0, 0], "EPERM"),
    ("swapoff", [0], "EPERM"),
    ("reboot", [0, 0, 0, 0], "EPERM"),  # bad magic numbers
    ("acct", [BAD], "EPERM"),
    ("quotactl", [0, 0, 0, 0], "EPERM"),
    ("lookup_dcookie", [0, 0, 0], "EPERM"),
    ("name_to_handle_at", [-1, BAD, BAD, BAD, 0], "EPERM"),
    ("open_by_handle_at", [-1, BAD, 0], "EPERM"),
    ("process_madvise", [-1, BAD, 0, 0, 0], "EPERM"),
    ("pidfd_getfd", [-1, 0, 0], "EPERM"),
    ("kcmp", [0, 0, 99, 0, 0], "EPERM"),
    ("quotactl_fd", [-1, 0, 0, BAD], "EPERM"),
    ("modify_ldt", [0, BAD, 0], "EPERM"),  # reading 0 bytes of the LDT: works without the filter
    ("memfd_secret", [0], "EPERM"),
    ("sysfs", [99, 0, 0], "EPERM"),
    ("uselib", [BAD], "EPERM"),
]
# (label, syscall, arguments, errno with the filter or "ok")
ARG_CALLS: list[tuple[str, str, list[int], str]] = [
    ("ioctl TIOCSTI", "ioctl", [-1, 0x5412, 0], "EPERM"),
    ("ioctl TIOCSTI, upper half set", "ioctl", [-1, 0x1_0000_5412, 0], "EPERM"),  # kernel: cmd is 32-bit
    ("ioctl TIOCLINUX", "ioctl", [-1, 0x541C, 0], "EPERM"),
    ("socket AF_NETLINK, upper half set", "socket", [0x1_0000_0010, socket.SOCK_RAW, 0], "EAFNOSUPPORT"),
    ("socketpair AF_INET", "socketpair", [socket.AF_INET, socket.SOCK_STREAM, 0, BAD], "EAFNOSUPPORT"),
    *((f"clone {name}", "clone", [flag | CLONE_THREAD, 0, 0, 0, 0], "EPERM")
      for name, flag in seccomp.NAMESPACE_FLAGS.items()),
]
FAMILIES: list[tuple[str, int, int]] = [
    ("AF_NETLINK", socket.AF_NETLINK, socket.SOCK_RAW),
    ("AF_VSOCK", socket.AF_VSOCK, socket.SOCK_STREAM),
    ("AF_PACKET", socket.AF_PACKET, socket.SOCK_RAW),
    ("AF_ALG", socket.AF_ALG, socket.SOCK_SEQPACKET),
    ("AF_KEY", 15, socket.SOCK_RAW),
    ("AF_BLUETOOTH", 31, socket.SOCK_RAW),
]
# Still allowed with the filter: the errno is the kernel's (fd -1), or the call works.
ALLOWED: list[tuple[str, str, list[int], str]] = [
    ("ioctl TIOCGWINSZ", "ioctl", [-1, 0x5413, 0], "EBADF"),
    *((f"socket domain {d}", "socket", [d, socket.SOCK_DGRAM, 0], "ok") for d in seccomp.SOCKET_FAMILIES),
    ("socketpair AF_UNIX", "socketpair", [socket.AF_UNIX, socket.SOCK_STREAM, 0, BAD], "EFAULT"),
]
# Without the filter the kernel gives the same answer: capability checks against the
# initial user namespace, and features or families a kernel may be built without.
NO_CONTROL = {"swapon", "swapoff", "acct", "kexec_load", "kexec_file_load", "init_module",
              "finit_module", "delete_module", "AF_VSOCK", "AF_ALG", "AF_KEY", "AF_BLUETOOTH"}


def test_denied_calls_fail_with_their_errno_and_get_past_without_the_filter():
    listed = {name for names, _, _ in seccomp.DENIED for name in names if nr(name) >= 0}
    assert listed <= {name for name, _, _ in CALLS}, "every denied call is probed"
    calls = [(name, nr(name), args) for name, args, _ in CALLS]
    calls += [(label, nr(name), args) for label, name, args, _ in ARG_CALLS + ALLOWED]
    expected = {name: err for name, _, err in CALLS}
    expected |= {label: err for label, _, _, err in ARG_CALLS + ALLOWED}
    expected |= {label: "EAFNOSUPPORT" for label, _, _ in FAMILIES}
    results = {}
    for filtered in (True, False):
        done = bwrap_python(PROBE, json.dumps(calls), json.dumps(FAMILIES), filtered=filtered)
        assert done.returncode == 0, done.stderr
        results[filtered] = json.loads(done.stdout)

    assert results[True] == expected
    allowed = {label for label, _, _, _ in ALLOWED}
    gets_past = {label: results[False][label] for label in expected
                 if label not in allowed | NO_CONTROL}
    assert {label: got for label, got in gets_past.items() if got == expected[label]} == {}
    assert {label: results[False][label] for label in allowed} == {
        label: expected[label] for label in allowed}


WORK = r"""
import os, socket, subprocess, threading
a, b = socket.socketpair(socket.AF_UNIX)
a.sendall(b"x")
assert b.recv(1) == b"x"
server = socket.create_server(("127.0.0.1", 0))
with socket.create_connection(server.getsockname()) as client, server.accept()[0] as peer:
    client.sendall(b"y")
    assert peer.recv(1) == b"y"
socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close()
pid = os.fork()
if pid == 0:
    os._exit(7)
assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 7
thread = threading.Thread(target=print, args=("thread ran",))  # glibc: clone3, then clone
thread.start()
thread.join()
print(subprocess.run(["git", "--version"], capture_output=True, text=True, check=True).stdout)
"""


def test_ordinary_work_runs_with_the_filter():
    done = bwrap_python(WORK, filtered=True)
    assert done.returncode == 0, done.stderr
    assert "thread ran" in done.stdout and "git version" in done.stdout


# A denied call (keyctl) through another ABI: i386 via int 0x80, or x32 (the x86_64
# number with __X32_SYSCALL_BIT). The filter must kill the process, not let it through.
OTHER_ABI = r"""
import ctypes, mmap, sys
if sys.argv[1] == "i386":
    # push rbx; mov eax, 288 (keyctl); xor ebx, ebx (KEYCTL_GET_KEYRING_ID);
    # mov ecx, -3 (the session keyring); xor edx, edx; int 0x80; pop rbx; ret
    code = bytes.fromhex("53 b8 20 01 00 00 31 db b9 fd ff ff ff 31 d2 cd 80 5b c3")
    page = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    page.write(code)
    ret = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(page)))()
else:
    libc = ctypes.CDLL(None, use_errno=True)
    ret = libc.syscall(ctypes.c_long(0x40000000 | 250), ctypes.c_long(0), ctypes.c_long(-3),
                       ctypes.c_long(0))
print("survived", ret)
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="i386 and x32 are x86_64's other ABIs")
@pytest.mark.parametrize("abi", ["i386", "x32"])
def test_other_syscall_abis_kill_the_process(abi: str):
    killed = bwrap_python(OTHER_ABI, abi, filtered=True)
    assert killed.returncode == 128 + signal.SIGSYS and "survived" not in killed.stdout
    control = bwrap_python(OTHER_ABI, abi, filtered=False)
    assert control.returncode == 0 and "survived" in control.stdout, control.stderr


# Run as its own process so the test's own keyrings stay untouched: it joins a private
# session keyring, adds a key there, then starts bwrap (without the filter) twice.
KEYRING_PARENT = r"""
import ctypes, json, subprocess, sys
from minion.sandbox.seccomp import join_new_session_keyring
keyctl_nr, add_key_nr, bwrap = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
assert libc.syscall(L(keyctl_nr), L(1), None) > 0  # KEYCTL_JOIN_SESSION_KEYRING
key = libc.syscall(L(add_key_nr), b"user", b"minion-test", b"hunter2", L(7), L(-3))
assert key > 0
CHILD = '''
import ctypes, errno, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
L = ctypes.c_long
keyctl_nr, key = int(sys.argv[1]), int(sys.argv[2])
session = libc.syscall(L(keyctl_nr), L(0), L(-3), L(0))  # KEYCTL_GET_KEYRING_ID
buf = ctypes.create_string_buffer(64)
n = libc.syscall(L(keyctl_nr), L(11), L(key), buf, L(64))  # KEYCTL_READ
read = buf.raw[:n].decode() if n >= 0 else errno.errorcode[ctypes.get_errno()]
print(json.dumps({"session": session, "read": read}))
'''
out = {"session": libc.syscall(L(keyctl_nr), L(0), L(-3), L(0))}
for name, preexec in (("inherited", None), ("joined", join_new_session_keyring)):
    argv = [*bwrap, "--", sys.executable, "-c", CHILD, str(keyctl_nr), str(key)]
    done = subprocess.run(argv, capture_output=True, text=True, check=True, preexec_fn=preexec)
    out[name] = json.loads(done.stdout)
print(json.dumps(out))
"""


def test_join_new_session_keyring_hides_the_parents_keys():
    done = subprocess.run(
        [sys.executable, "-c", KEYRING_PARENT, str(nr("keyctl")), str(nr("add_key")), json.dumps(BWRAP)],
        check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["inherited"] == {"session": out["session"], "read": "hunter2"}  # the control
    assert out["joined"]["session"] not in (out["session"], -1)
    assert out["joined"]["read"] == "EACCES"


def test_filter_fd_holds_the_program_at_offset_zero():
    program = seccomp.filter_program()
    assert program is seccomp.filter_program() and len(program) % 8 == 0  # sock_filter: 8 bytes
    with seccomp.filter_fd() as fd:
        assert os.read(fd, len(program) + 1) == program


def test_describe_has_a_line_per_rule():
    lines = seccomp.describe()
    assert len(lines) == len(seccomp.DENIED) + len(seccomp.DENIED_IF) + 2
    assert any(line.startswith("deny socket if ") and "EAFNOSUPPORT" in line for line in lines)

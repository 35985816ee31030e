"""The kernel past the namespaces: keyrings, io_uring, socket families beyond Unix and IP,
ptrace, perf, bpf, userfaultfd, mounts, new namespaces, TIOCSTI, file handles, and the
host's Unix sockets. Each attack is one call, made by a small Python probe inside the run's
sandbox (seccomp.py is its kernel filter); the same probe run on the host, where that
changes nothing of the host, is the positive control."""

import ctypes
import json
import os
import shlex
import socket
import subprocess
import uuid

import pyseccomp as sc

from battery import PY, UnixListener, marker, run_sandbox

# One function per call; argv: the syscall numbers, the function, its arguments. Prints
# "succeeded: ..." or "failed: <errno name> (...)".
PROBE = r"""
import ctypes, errno, json, os, signal, socket, struct, sys, termios

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
NR = json.loads(sys.argv[1])

def call(name, *args):
    # Every integer as a full register, as the kernel sees it.
    return libc.syscall(ctypes.c_long(NR[name]), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))

def report(r, err=None):
    err = ctypes.get_errno() if err is None else err
    print(f"succeeded: {r}" if r >= 0 else f"failed: {errno.errorcode.get(err, err)} ({os.strerror(err)})")

def reaped(r):
    # After a raw clone: the child leaves at once, the parent waits for it.
    if r == 0:
        os._exit(0)
    if r > 0:
        os.waitpid(r, 0)
    return r

def keyctl_read(key):
    buf = ctypes.create_string_buffer(256)
    r = call("keyctl", 11, int(key), buf, 256)  # KEYCTL_READ
    report(r)
    if r > 0:
        print(buf.raw[:r].decode())

def keyctl_search(description):  # KEYCTL_SEARCH the session keyring
    report(call("keyctl", 10, -3, b"user", description.encode(), 0))

def keyctl_session():  # KEYCTL_GET_KEYRING_ID of the session keyring
    report(call("keyctl", 0, -3, 0))

def add_key():
    report(call("add_key", b"user", b"minion-battery-probe", b"x", 1, -3))

def request_key(description):
    report(call("request_key", b"user", description.encode(), None, 0))

def io_uring():
    report(call("io_uring_setup", 4, ctypes.create_string_buffer(120)))

def sock(family, kind):
    try:
        socket.socket(int(family), int(kind)).close()
        print("succeeded")
    except OSError as e:
        report(-1, e.errno)

def connect(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(3)
    try:
        s.connect("\0" + path[1:] if path.startswith("@") else path)
        print("succeeded")
    except OSError as e:
        print(f"failed: {e!r}")

def traceme():
    report(call("ptrace", 0, 0, 0, 0))

def attach(pid):
    r = call("ptrace", 16, int(pid), 0, 0)  # PTRACE_ATTACH
    report(r)
    if r == 0:
        os.waitpid(int(pid), 0x40000000)  # __WALL: its stop
        call("ptrace", 17, int(pid), 0, 0)  # PTRACE_DETACH

def perf():
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("IIQ", attr, 0, 1, 128, 0)  # PERF_TYPE_SOFTWARE, size, PERF_COUNT_SW_CPU_CLOCK
    report(call("perf_event_open", attr, 0, -1, -1, 0))

def bpf():
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("IIII", attr, 0, 2, 4, 4, 1)  # an array map of one 4-byte value
    report(call("bpf", 0, attr, 128))  # BPF_MAP_CREATE

def userfaultfd():
    report(call("userfaultfd", os.O_CLOEXEC))

def mount():
    report(call("mount", b"none", b"/tmp", b"tmpfs", 0, None))

def umount2():
    report(call("umount2", b"/tmp", 2))  # MNT_DETACH

def pivot_root():
    report(call("pivot_root", b"/tmp", b"/tmp"))

def open_tree():
    report(call("open_tree", -100, b"/", 1))  # AT_FDCWD, OPEN_TREE_CLONE

def fsopen():
    report(call("fsopen", b"tmpfs", 0))

def unshare(flag):
    report(call("unshare", int(flag, 0)))

def clone(flag):
    report(reaped(call("clone", int(flag, 0) | signal.SIGCHLD, 0, 0, 0, 0)))

def clone3(flag):
    args = ctypes.create_string_buffer(64)
    struct.pack_into("QQQQQ", args, 0, int(flag, 0), 0, 0, 0, signal.SIGCHLD)  # flags ... exit_signal
    report(reaped(call("clone3", args, 64)))

def setns():
    report(call("setns", os.open("/proc/self/ns/net", os.O_RDONLY), 0))

def name_to_handle():
    handle = ctypes.create_string_buffer(8 + 128)
    struct.pack_into("I", handle, 0, 128)
    mount_id = ctypes.c_int()
    report(call("name_to_handle_at", -100, b"/etc/passwd", handle, ctypes.byref(mount_id), 0))

def tiocsti(junk):
    # Type into its own terminal: a new session whose controlling terminal is a fresh pty.
    master, slave = os.openpty()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        tty = os.open(os.ttyname(slave), os.O_RDWR)
        r = libc.ioctl(tty, ctypes.c_ulong(termios.TIOCSTI | int(junk, 0)), ctypes.c_char_p(b"x"))
        os._exit(0 if r == 0 else ctypes.get_errno())
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    report(0 if code == 0 else -1, code)

globals()[sys.argv[2]](*sys.argv[3:])
"""

SYSCALLS = ["keyctl", "add_key", "request_key", "io_uring_setup", "ptrace", "perf_event_open", "bpf",
            "userfaultfd", "mount", "umount2", "pivot_root", "open_tree", "fsopen", "unshare", "clone", "clone3",
            "setns", "name_to_handle_at"]
NR = {name: sc.resolve_syscall(sc.Arch.NATIVE, name) for name in SYSCALLS}

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET = "0x00020000", "0x10000000", "0x40000000"

# attack -> probe. Safe to run on the host too: a new namespace or a ptrace stop ends with the probe.
CALLS = {
    "io_uring_setup": ("io_uring",),
    "socket(AF_VSOCK)": ("sock", socket.AF_VSOCK, socket.SOCK_STREAM),
    "socket(AF_NETLINK)": ("sock", socket.AF_NETLINK, socket.SOCK_RAW),
    "socket(AF_PACKET)": ("sock", socket.AF_PACKET, socket.SOCK_RAW),
    "socket(AF_ALG)": ("sock", socket.AF_ALG, socket.SOCK_SEQPACKET),
    "ptrace(PTRACE_TRACEME)": ("traceme",),
    "perf_event_open": ("perf",),
    "bpf(BPF_MAP_CREATE)": ("bpf",),
    "userfaultfd": ("userfaultfd",),
    "unshare(CLONE_NEWUSER)": ("unshare", CLONE_NEWUSER),
    "unshare(CLONE_NEWNS)": ("unshare", CLONE_NEWNS),
    "unshare(CLONE_NEWNET)": ("unshare", CLONE_NEWNET),
    "clone(CLONE_NEWUSER)": ("clone", CLONE_NEWUSER),
    "clone3(CLONE_NEWUSER)": ("clone3", CLONE_NEWUSER),
    "setns into its own network namespace": ("setns",),
    "name_to_handle_at (the 'shocker' escape)": ("name_to_handle",),
    "ioctl(TIOCSTI) on its own terminal": ("tiocsti", "0"),
    "ioctl(TIOCSTI) with junk in the upper half of the request": ("tiocsti", hex(1 << 32)),
}
# Positive controls: calls the host itself makes (run as root, for the second set). The
# others depend on the host's kernel config; their result on the host is in the evidence.
HOST_MAKES = {"socket(AF_NETLINK)", "ptrace(PTRACE_TRACEME)", "name_to_handle_at (the 'shocker' escape)"}
HOST_MAKES_AS_ROOT = {"socket(AF_PACKET)", "perf_event_open", "bpf(BPF_MAP_CREATE)", "userfaultfd",
                      "unshare(CLONE_NEWUSER)", "unshare(CLONE_NEWNS)", "unshare(CLONE_NEWNET)",
                      "clone(CLONE_NEWUSER)", "clone3(CLONE_NEWUSER)", "setns into its own network namespace"}
# Not run on the host: there they would change its mounts.
MOUNT_CALLS = {
    "mount a tmpfs": ("mount",),
    "umount2 /tmp": ("umount2",),
    "pivot_root": ("pivot_root",),
    "open_tree(OPEN_TREE_CLONE) of /": ("open_tree",),
    "fsopen(tmpfs)": ("fsopen",),
}


def probe(*args) -> str:
    """The shell command that runs the probe function ``args[0]`` with the rest as arguments."""
    return shlex.join([PY, "-c", PROBE, json.dumps(NR), *map(str, args)])


def on_host(command: str) -> str:
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=30, check=False)
    return done.stdout + done.stderr


# --- a key in this process's session keyring --------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
KEY_SPEC_SESSION_KEYRING = -3


def _syscall(name: str, *args) -> int:
    return _libc.syscall(ctypes.c_long(NR[name]), *(ctypes.c_long(a) if isinstance(a, int) else a for a in args))


def add_key(description: str, payload: str) -> int:
    key = _syscall("add_key", b"user", description.encode(), payload.encode(), len(payload), KEY_SPEC_SESSION_KEYRING)
    assert key > 0, os.strerror(ctypes.get_errno())
    return key


def read_key(key: int) -> str:
    buf = ctypes.create_string_buffer(256)
    size = _syscall("keyctl", 11, key, buf, len(buf))  # KEYCTL_READ
    return buf.raw[:size].decode()


def remove_key(key: int) -> None:
    _syscall("keyctl", 3, key)  # KEYCTL_REVOKE
    _syscall("keyctl", 9, key, KEY_SPEC_SESSION_KEYRING)  # KEYCTL_UNLINK


async def test_the_kernel_keyrings_are_out_of_reach(user_repo, tmp_path, attacks):
    """A credential in the session keyring of the process that starts the sandbox (the
    server's), as Kerberos, ecryptfs and network filesystems keep theirs."""
    secret, description = marker("keyring"), marker("key-name")
    key = add_key(description, secret)
    try:
        assert read_key(key) == secret  # positive controls: this process reads it back,
        assert secret in on_host(probe("keyctl_read", key))  # and so does a child of it, unsandboxed
        assert "succeeded" in on_host(probe("request_key", description))
        sandbox = run_sandbox(user_repo, tmp_path)
        tries = {
            "keyctl: read the planted key by its id": probe("keyctl_read", key),
            "keyctl: find the planted key in the session keyring": probe("keyctl_search", description),
            "keyctl: name the session keyring": probe("keyctl_session"),
            "add_key to the session keyring": probe("add_key"),
            "request_key the planted key": probe("request_key", description),
            "see the planted key in /proc/keys": "grep -w user /proc/keys || echo none listed",
        }
        outputs = {name: (await sandbox.run(command)).output for name, command in tries.items()}
    finally:
        remove_key(key)
    for name, out in outputs.items():
        attacks.check(name, "succeeded" not in out and secret not in out and description not in out, out)


async def test_the_fresh_keyring_holds_on_its_own(user_repo, tmp_path, monkeypatch, attacks):
    """The second layer alone: with the kernel filter switched off (an allow-all program in
    its place), the planted key is still out of reach, since every command gets a fresh
    session keyring instead of the server's."""
    from minion.sandbox import seccomp

    program = tmp_path / "allow-all.bpf"
    with program.open("wb") as f:
        sc.SyscallFilter(sc.ALLOW).export_bpf(f)
    monkeypatch.setattr(seccomp, "filter_program", program.read_bytes)
    secret, description = marker("keyring"), marker("key-name")
    key = add_key(description, secret)
    try:
        sandbox = run_sandbox(user_repo, tmp_path)
        assert "succeeded" in (await sandbox.run(probe("add_key"))).output  # the filter is off indeed
        out = (await sandbox.run(probe("keyctl_read", key))).output
    finally:
        remove_key(key)
    attacks.check("keyctl: read the planted key with no filter, through the inherited keyring",
                  "succeeded" not in out and secret not in out, out)


async def test_kernel_interfaces_past_the_namespaces_are_denied(user_repo, tmp_path, attacks):
    sandbox = run_sandbox(user_repo, tmp_path)
    for name, args in CALLS.items():
        control = on_host(probe(*args))
        if name in HOST_MAKES or (os.geteuid() == 0 and name in HOST_MAKES_AS_ROOT):
            assert control.startswith("succeeded"), (name, control)
        out = (await sandbox.run(probe(*args))).output
        attacks.check(name, out.startswith("failed"), f"{out} (on the host: {control.strip()})")
    for name, args in MOUNT_CALLS.items():
        out = (await sandbox.run(probe(*args))).output
        attacks.check(name, out.startswith("failed"), out)
    # A sibling inside the sandbox: ptrace could read its memory, and through it whatever it reads.
    attach = f"sleep 60 & {probe('attach')} $!; kill $!"
    assert "succeeded" in on_host(attach)  # positive control
    out = (await sandbox.run(attach)).output
    attacks.check("ptrace(PTRACE_ATTACH) a sibling process inside", out.startswith("failed"), out)


async def test_host_unix_sockets_are_out_of_reach(user_repo, fake_home, visible, tmp_path, attacks):
    """Listening sockets of the host's (an ssh or gpg agent, a database) beside the repo, in
    the home, and under an abstract name (no file: only the network namespace parts it)."""
    (fake_home.path / ".gnupg").mkdir()
    listeners = {
        "a Unix socket under /var/tmp": UnixListener(str(visible / "agent.sock")),
        "a Unix socket in the home": UnixListener(str(fake_home.path / ".gnupg" / "S.gpg-agent")),
        "an abstract Unix socket": UnixListener(f"\0minion-battery-{uuid.uuid4().hex[:8]}"),
    }

    def connect(listener: UnixListener) -> str:
        return probe("connect", "@" + listener.path[1:] if listener.path.startswith("\0") else listener.path)

    try:
        for listener in listeners.values():  # positive control: the host connects
            assert "succeeded" in on_host(connect(listener)) and listener.reached()
        sandbox = run_sandbox(user_repo, tmp_path)
        outputs = {name: (await sandbox.run(connect(listener))).output for name, listener in listeners.items()}
        reached = {name: listener.reached() for name, listener in listeners.items()}
    finally:
        for listener in listeners.values():
            listener.close()
    for name, out in outputs.items():
        attacks.check(f"connect to {name} of the host", out.startswith("failed") and not reached[name], out)

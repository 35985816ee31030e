"""Start a long-lived program in the sandbox through a plain command line.

A sandboxed command gets its seccomp filter and its data files (``--ro-bind-data``) as file
descriptors, which a library that spawns processes itself (the MCP SDK's stdio transport)
cannot pass. `Sandbox.server_command` writes what bwrap needs to a private spec file and
returns ``python -I .../launch.py SPEC``: this file reads the spec (and deletes it), puts
each blob at the descriptor number the bwrap command line names, and becomes bwrap. It is
run as a file and imports nothing of minion's: it runs between the caller and the sandbox.
"""

import base64
import ctypes
import json
import os
import sys

KEYCTL_JOIN_SESSION_KEYRING = 1


def _fd_holding(data: bytes, number: int) -> None:
    """A readable descriptor ``number`` holding ``data`` from offset 0, kept across exec."""
    fd = os.memfd_create("minion-launch", 0)  # no CLOEXEC: bwrap must inherit it
    os.pwrite(fd, data, 0)
    if fd != number:
        os.dup2(fd, number, inheritable=True)
        os.close(fd)


def main(spec_path: str) -> None:
    with open(spec_path, "rb") as f:
        spec = json.load(f)
    os.unlink(spec_path)  # it names the server's environment: nothing of it stays behind
    for number, blob in spec["fds"].items():
        _fd_holding(base64.b64decode(blob), int(number))
    if spec["keyctl"] is not None:  # a fresh, empty session keyring, as for every sandboxed command
        ctypes.CDLL(None, use_errno=True).syscall(spec["keyctl"], KEYCTL_JOIN_SESSION_KEYRING, None)
    argv = spec["argv"]
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1])

"""The network: the host's 127.0.0.1 ports, its Unix sockets in the usual places, any
outside address, DNS. No test sends a packet off this machine: the outside address and
the DNS attempts must fail before anything is sent, for want of a route."""

import socket
import uuid
from pathlib import Path

from battery import PY, agent_run
from support.script import bash


def tcp_attacks(port: int) -> list[tuple[str, dict]]:
    return [
        ("curl to a host port on 127.0.0.1", bash(f"curl -sS -m 3 http://127.0.0.1:{port}/")),
        ("bash /dev/tcp to a host port", bash(f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo hi >&3 && cat <&3")),
        ("python socket to a host port", bash(
            f"{PY} -c 'import socket; s = socket.create_connection((\"127.0.0.1\", {port}), 3); "
            "s.sendall(b\"hi\"); print(s.recv(100))'")),
        ("curl to the host port through localhost", bash(f"curl -sS -m 3 http://localhost:{port}/")),
    ]


async def test_host_ports_and_sockets_and_the_outside_are_out_of_reach(user_repo, listener, tmp_path, attacks):
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(0.2)
    udp_port = udp.getsockname()[1]
    sockets = []
    for folder in ("/tmp", "/run"):  # where ssh-agent, docker, dbus and X11 put theirs
        unix = socket.socket(socket.AF_UNIX)
        path = Path(folder) / f"minion-battery-{uuid.uuid4().hex[:8]}.sock"
        unix.bind(str(path))
        unix.listen()
        sockets.append((unix, path))
    try:
        # Positive controls: the host reaches both.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            sender.sendto(b"control", ("127.0.0.1", udp_port))
        assert udp.recv(100) == b"control"
        for unix, path in sockets:
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(str(path))
                unix.accept()[0].close()
        tcp = tcp_attacks(listener.port)
        others = [
            # TEST-NET-1: no host answers there, should a packet ever leave.
            bash(f"{PY} -c 'import socket; socket.create_connection((\"192.0.2.1\", 80), 3)'"),
            bash(f"{PY} -c 'import socket; print(socket.getaddrinfo(\"example.com\", 443))'"),
            bash(f"{PY} -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                 f".sendto(b\"query\", (\"127.0.0.1\", {udp_port}))'"),
            *[bash(f"{PY} -c 'import socket; socket.socket(socket.AF_UNIX).connect(\"{path}\")'")
              for _, path in sockets],
        ]
        run = await agent_run(user_repo, tmp_path, [[block for _, block in tcp] + others])
        try:
            udp_received = udp.recv(100)
        except TimeoutError:
            udp_received = b""
        reached = {}
        for unix, path in sockets:
            unix.settimeout(0.01)
            try:
                unix.accept()
                reached[path] = True
            except TimeoutError:
                reached[path] = False
    finally:
        udp.close()
        for unix, path in sockets:
            unix.close()
            path.unlink()

    for i, (name, _) in enumerate(tcp):
        attacks.check(f"bash: {name}", run.refused(i) and "reached the host" not in run.output(i), run.output(i))
    attacks.check("nothing reached the host listener", listener.connections == 0 and not listener.received,
                  listener.received)
    n = len(tcp)
    # "unreachable": refused before a packet left, not timed out waiting for an answer.
    attacks.check("bash: connect to 192.0.2.1", run.refused(n) and "Network is unreachable" in run.output(n)
                  and run.seconds(n) < 2.5, run.output(n))
    attacks.check("bash: DNS lookup", run.refused(n + 1) and run.seconds(n + 1) < 2.5, run.output(n + 1))
    # The datagram goes to the sandbox's own loopback, where nobody listens.
    attacks.check("bash: DNS query to 127.0.0.1 of the host", not udp_received, run.output(n + 2))
    for i, (_, path) in enumerate(sockets, start=n + 3):
        attacks.check(f"bash: connect to a host Unix socket in {path.parent}",
                      run.refused(i) and not reached[path], run.output(i))


async def test_the_same_commands_reach_the_host_when_the_network_is_allowed(user_repo, listener, tmp_path):
    """Positive control for the attack commands themselves: `network = true` lets them through."""
    run = await agent_run(user_repo, tmp_path, [[block for _, block in tcp_attacks(listener.port)]], network=True)
    assert all("reached the host" in run.output(i) for i in range(len(run.calls))), run.calls
    assert listener.connections == len(run.calls)

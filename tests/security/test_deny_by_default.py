"""Deny by default: a command sees what the view lists (view.py) and nothing else of the
host. The credentials more tools leave in the home, the user's other projects, host paths
in the mount table, the system's password hashes, and the ways around a path that is not
there: links, `..`, the roots /proc links to, hard links, a swap raced against a read, the
files the host writes into the sandbox's HOME. Last, a walk of the whole tree inside."""

import asyncio
import functools
import os
import shlex
import subprocess
import uuid
from pathlib import Path

from battery import MORE_HOME_SECRETS, PY, marker, resumed_sandbox, run_sandbox

ORIGINAL = "the user's own text\n"


def plant_sibling(visible: Path) -> tuple[Path, str]:
    """Another project of the user's beside the repo, with its .env."""
    sibling = visible / f"sibling-{uuid.uuid4().hex[:8]}"
    sibling.mkdir()
    secret = marker("sibling-env")
    (sibling / ".env").write_text(f"DATABASE_URL=postgres://app:{secret}@db/app\n")
    assert secret in (sibling / ".env").read_text()  # positive control: the host reads it
    return sibling, secret


async def test_reading_more_credentials_of_the_home_and_sibling_projects(user_repo, credentials_home, visible,
                                                                        tmp_path, attacks):
    home = credentials_home
    sibling, secret = plant_sibling(visible)
    sandbox = run_sandbox(user_repo, tmp_path)
    for rel in MORE_HOME_SECRETS:
        out = (await sandbox.run(f"cat '{home.path / rel}'")).output
        attacks.check(f"bash: read ~/{rel}", not home.leaks(out), out)
    out = (await sandbox.run(f"cat '{sibling}/.env'")).output
    attacks.check("bash: read a sibling project's .env", secret not in out, out)
    out = (await sandbox.run(f"grep -r BATTERY-SECRET '{visible}' 2>&1 | head -50")).output
    found = [rel for rel in MORE_HOME_SECRETS if home.secrets[rel] in out]
    attacks.check("bash: grep the folder that holds the repo for secrets", secret not in out and not found, out)


async def test_the_sandbox_home_keeps_no_credential_of_the_tool_config(user_repo, fake_home, tmp_path, attacks):
    """The host copies ~/.npmrc into the sandbox's HOME without its secret keys; the agent
    reads that copy. A token can sit in a URL as well as in `_authToken`."""
    registry, proxy = marker("npm-registry"), marker("npm-proxy")
    with (fake_home.path / ".npmrc").open("a") as npmrc:
        npmrc.write(f"registry=https://npm:{registry}@registry.example.com/\n"
                    f"https-proxy=http://me:{proxy}@proxy.example.com:8080/\nsave-exact=true\n")
    sandbox = run_sandbox(user_repo, tmp_path)
    out = (await sandbox.run("cat ~/.npmrc")).output
    assert "save-exact=true" in out  # positive control: the host did copy the file
    attacks.check("bash: read a token in the registry URL of the sandbox's ~/.npmrc", registry not in out, out)
    attacks.check("bash: read a password in the proxy URL of the sandbox's ~/.npmrc", proxy not in out, out)


async def test_links_left_in_the_sandbox_home_are_not_followed_by_the_host(user_repo, fake_home, visible,
                                                                          tmp_path, attacks):
    """The agent replaces the files the host writes into its HOME (the sanitized ~/.gitconfig
    and ~/.npmrc) with links to files of the user's; when the run resumes, the host fills
    that HOME again."""
    with (fake_home.path / ".gitconfig").open("a") as config:
        config.write("[user]\n\tname = Battery User\n")  # a key the host copies
    with (fake_home.path / ".npmrc").open("a") as npmrc:
        npmrc.write("save-exact=true\n")  # likewise
    victims = {name: visible / f"victim{name}" for name in (".gitconfig", ".npmrc")}
    for victim in victims.values():
        victim.write_text(ORIGINAL)
    sandbox = run_sandbox(user_repo, tmp_path)
    links = " && ".join(f"ln -sf '{victim}' ~/{name}" for name, victim in victims.items())
    planted = await sandbox.run(f"cat ~/.gitconfig ~/.npmrc && {links} && ls -la ~")
    # Positive controls: the host wrote both, and the agent's links are in place.
    assert "Battery User" in planted.output and "save-exact=true" in planted.output, planted.output
    assert all(f"{name} -> {victim}" in planted.output for name, victim in victims.items()), planted.output
    resumed = await resumed_sandbox(sandbox).run("ls -la ~")
    for name, victim in victims.items():
        attacks.check(f"the host writes ~/{name} of a resumed run through a link to a user's file",
                      victim.read_text() == ORIGINAL, (victim.read_text(), resumed.output))


async def test_the_mount_table_names_nothing_outside_the_view(user_repo, fake_home, visible, tmp_path, attacks):
    sibling, _ = plant_sibling(visible)
    other = run_sandbox(user_repo, tmp_path)
    await other.run("true")  # another run of the same repo: its worktree and HOME are in the state dir
    assert other.policy.worktree.is_dir() and other.policy.home.is_dir()  # positive control
    table = (await run_sandbox(user_repo, tmp_path).run("cat /proc/self/mountinfo")).output
    assert " /proc " in table  # the table was read
    attacks.check("mountinfo names the user's home", str(fake_home.path) not in table, table)
    attacks.check("mountinfo names another run's worktree or HOME", other.policy.home.name not in table, table)
    attacks.check("mountinfo names a sibling project of the repo", sibling.name not in table, table)


async def test_the_systems_password_hashes_read_as_empty(user_repo, tmp_path, attacks):
    sandbox = run_sandbox(user_repo, tmp_path)
    for name in ("/etc/shadow", "/etc/gshadow"):
        assert Path(name).stat().st_size > 0  # positive control: the host's file holds hashes
        out = (await sandbox.run(f"wc -c < {name}; cat {name}")).output
        attacks.check(f"bash: read {name}", out.strip() == "0", out)


async def test_links_dotdot_and_proc_roots_lead_nowhere(user_repo, fake_home, visible, tmp_path, attacks):
    """Every way to name a host file the view does not show: a link the agent makes in the
    repo, `..` out of it, the roots /proc links to (its own, pid 1's, a host process's), a
    hard link. The host process stands for the user's editor, started in a secret folder."""
    home = fake_home.path
    sibling, sibling_secret = plant_sibling(visible)
    secret_dir = visible / "secret folder"
    secret_dir.mkdir()
    cwd_secret = marker("cwd")
    (secret_dir / "token.txt").write_text(cwd_secret)
    host = subprocess.Popen(["sleep", "60"], cwd=secret_dir)
    pid = host.pid
    try:
        # Positive controls: on the host, the process's links lead to the secrets.
        assert Path(f"/proc/{pid}/cwd/token.txt").read_text() == cwd_secret
        assert fake_home.secrets[".ssh/id_ed25519"] in Path(f"/proc/{pid}/root{home}/.ssh/id_ed25519").read_text()
        sandbox = run_sandbox(user_repo, tmp_path)
        key = ".ssh/id_ed25519"
        tries = {
            "a link in the repo to the home": f"ln -s '{home}' home-link && cat home-link/{key}",
            "a link in the repo to a sibling project": f"ln -s '{sibling}' sibling-link && cat sibling-link/.env",
            "`..` from the repo to the home": f"cat ../home/{key}",
            "a long `..` chain from a subfolder": f"cd calc && cat ../../../../../../../..{home}/{key}",
            "/proc/self/root": f"cat /proc/self/root{home}/{key}",
            "/proc/1/root": f"cat /proc/1/root{home}/{key}",
            "/proc/<host pid>/cwd": f"cat /proc/{pid}/cwd/token.txt",
            "/proc/<host pid>/root": f"cat /proc/{pid}/root{home}/{key}",
            "a hard link to a file of the home": f"ln '{home}/{key}' stolen-key && cat stolen-key",
            "a hard link to a sibling's .env": f"ln '{sibling}/.env' stolen-env && cat stolen-env",
        }
        outputs = {name: (await sandbox.run(command)).output for name, command in tries.items()}
        seen = (await sandbox.run(f"ls -d /proc/{pid} && echo 'pid {pid} is here'")).output
    finally:
        host.kill()
        host.wait()
    for name, out in outputs.items():
        leaked = fake_home.leaks(out) or sibling_secret in out or cwd_secret in out
        attacks.check(f"bash: read a hidden file through {name}", not leaked, out)
    attacks.check("bash: see a host process in /proc", f"pid {pid} is here" not in seen, seen)


async def test_swapping_a_folder_for_a_link_while_other_commands_read(user_repo, fake_home, visible, tmp_path,
                                                                     attacks):
    """One command swaps a folder of the worktree for links to the home and to a sibling
    project and back, as fast as it can, while a second reads through it and more commands
    start in it (the host checks a command's folder before bwrap enters it)."""
    home = fake_home.path
    sibling, sibling_secret = plant_sibling(visible)
    sandbox = run_sandbox(user_repo, tmp_path)
    worktree = sandbox.policy.worktree
    (worktree / "d").mkdir()
    swap = (f"n=0; touch started; until [ -e stop ]; do rm -rf d; ln -s '{home}' d; rm d; "
            f"ln -s '{sibling}' d; rm d; mkdir d; n=$((n+1)); done; echo swapped $n times")
    read = ("until [ -e started ]; do :; done; "
            "for i in $(seq 500); do cat d/.ssh/id_ed25519 d/.env 2>/dev/null; done; touch stop")

    async def start_in_d() -> list[str]:
        outputs = []
        while not (worktree / "stop").exists():
            outputs.append((await sandbox.run("cat .ssh/id_ed25519 .env", cwd="d")).output)
            await asyncio.sleep(0)  # a refused cwd returns without awaiting: let the others run
        return outputs

    swapped, reads, starts = await asyncio.gather(sandbox.run(swap, timeout_s=60), sandbox.run(read, timeout_s=60),
                                                  start_in_d())
    assert "swapped" in swapped.output and not swapped.timed_out, swapped.output  # the race did run
    outputs = [reads.output, *starts]
    leaked = [out for out in outputs if fake_home.leaks(out) or sibling_secret in out]
    attacks.check("bash: read the home or a sibling through a folder swapped for a link mid-command",
                  not leaked, (swapped.output, len(starts), leaked or starts[-3:]))


# --- the walk ----------------------------------------------------------------------------

# Inside: every path it can read, with what reading it gave, as NUL-ended records
# "d N path" (a folder it lists, N entries) or "f N path" (a file it opens, N bytes of a
# one-byte read). A link counts as the place it leads to. Not into /proc, /sys, /dev.
WALK = r"""
import os, sys

def listed(path):
    try:
        return list(os.scandir(path)) if os.access(path, os.R_OK) else None
    except OSError:
        return None

def opened(path):
    if not os.access(path, os.R_OK):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    except OSError:
        return None
    try:
        return len(os.read(fd, 1))
    except OSError:  # a FIFO without a writer, a socket
        return 0
    finally:
        os.close(fd)

walked, folders = 0, ["/"]
with open(sys.argv[1], "w", errors="surrogateescape") as out:
    def record(path, folder):
        global walked
        walked += 1
        found = listed(path) if folder else opened(path)
        if found is not None:
            out.write(f"d {len(found)} {path}\0" if folder else f"f {found} {path}\0")
        return found
    while folders:
        entries = record(top := folders.pop(), True)
        if entries is None or top in ("/proc", "/sys", "/dev"):
            continue
        for entry in entries:
            if entry.is_symlink():
                target = os.path.realpath(entry.path)
                record(target, os.path.isdir(target))
            elif entry.is_dir(follow_symlinks=False):
                folders.append(entry.path)
            else:
                record(entry.path, False)
print("walked", walked)
"""


def not_shown(view, records: list[tuple[str, str, str]]) -> list[str]:
    """The readable paths the view does not mean to show. Allowed besides what
    ``View.shows`` says: a hidden place that reads as empty, and the folders bwrap makes to
    hold a mount point (each of their entries is judged on its own).

    The deepest mount at or above a path decides what ``shows`` says for it, so it is asked
    once for each such mount, of the first path under it: a few hundred thousand paths
    take a second."""
    targets = sorted({str(m.target): m for m in view.mounts}.items(), key=lambda t: -len(t[0]))
    names = {target for target, _ in targets}
    masks = {target for target, m in targets if m.kind == "mask"}
    mount_points = {str(parent) for target, _ in targets for parent in Path(target).parents}

    @functools.cache
    def deepest(folder: str) -> str | None:
        return next((t for t, _ in targets if folder == t or folder.startswith(t.rstrip("/") + "/")), None)

    verdict: dict[str | None, bool] = {}
    wrong = []
    for kind, size, path in records:
        mount = path if path in names else deepest(path if kind == "d" else os.path.dirname(path))
        if mount not in verdict:
            verdict[mount] = view.shows(Path(path))
        ok = (path in masks and size == "0") or path in mount_points or verdict[mount]
        if not ok:
            wrong.append(f"{kind} {size} {path}")
    return wrong


async def test_nothing_outside_the_view_is_readable(user_repo, fake_home, visible, tmp_path, attacks):
    """A walk of the whole tree inside the run's sandbox: every readable path is one the view
    means to show. The home, a sibling project, a note beside the repo and another run are
    there to be found."""
    plant_sibling(visible)
    (visible / "notes.txt").write_text(ORIGINAL)
    other = run_sandbox(user_repo, tmp_path)
    await other.run("true")
    assert other.policy.home.is_dir() and other.policy.worktree.is_dir()  # positive control: it is there
    sandbox = run_sandbox(user_repo, tmp_path)
    policy = sandbox.policy
    result = await sandbox.run(f"{PY} -c {shlex.quote(WALK)} \"$HOME/walk\"")
    assert result.exit_code == 0, result.output
    raw = (policy.home / "walk").read_text(errors="surrogateescape").split("\0")[:-1]
    records = [tuple(record.split(" ", 2)) for record in raw]
    paths = [path for _, _, path in records]
    summary = f"{result.output.strip()} paths, {len(records)} readable"
    assert os.path.realpath(PY) in paths  # the walk does find what is shown

    def inside(path: str, root: Path) -> bool:
        return path == str(root) or path.startswith(f"{root}/")

    def on_the_way_to(path: str, root: Path) -> bool:
        return inside(path, root) or inside(str(root), Path(path))

    wrong = not_shown(sandbox.view(), records)
    attacks.check("walk /: read a path the view does not show", not wrong, f"{summary}; {wrong[:20]}")
    in_home = [p for p in paths if inside(p, fake_home.path)]
    attacks.check("walk /: read anything of the user's home", not in_home, f"{summary}; {in_home[:20]}")
    beside = [p for p in paths if inside(p, visible)
              and not (on_the_way_to(p, policy.repo_path) or on_the_way_to(p, policy.home))]
    attacks.check("walk /: read anything beside the repo but the run's HOME", not beside,
                  f"{summary}; {beside[:20]}")
    state = Path(os.path.realpath(policy.state_dir))
    in_state = [p for p in paths if inside(p, state) and not on_the_way_to(p, policy.home)]
    attacks.check("walk /: read minion's state but the run's own HOME", not in_state, f"{summary}; {in_state[:20]}")

"""A repo's blueprint files run only once the user trusted their exact bytes (`minion trust`).

Each blueprint here has module-level code that writes a marker file: if the marker exists,
minion ran code the user had not allowed.
"""

import json
import os
import shlex
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from minion.blueprint.registry import check_blueprint, declared_names
from minion.errors import MinionError, UntrustedBlueprint
from minion.engine.create import RunRequest, create_run
from minion.engine.execute import execute_run
from minion.runs.model import Status
from minion.runs.store import RunStore
from minion.state import state_dir
from minion.trust import trust_repo, untrusted
from support.gitrepo import run_git, write_files
from support.script import write_script


def minion(*args, timeout=120):
    env = {**os.environ, "COLUMNS": "400"}  # rich wraps stderr at 80 columns when not a tty
    return subprocess.run([sys.executable, "-m", "minion.cli", *args], capture_output=True, text=True,
                          env=env, timeout=timeout)


def blueprint_source(marker, name="default"):
    return (
        f"open({str(marker)!r}, 'w').write('ran')  # module-level: runs when the file is imported\n"
        "from minion.blueprint import blueprint\n\n"
        f"@blueprint({name!r}, 'just commit')\n"
        "async def only_commit(run):\n"
        "    await run.step('note', lambda: None)\n"
        "    await run.commit()\n"
    )


@pytest.fixture
def marker(tmp_path):
    return tmp_path / "marker"


@pytest.fixture
def hostile(repo, marker):
    """A repo whose merged branch added `.minion/blueprints/default.py`."""
    write_files(repo, {".minion/blueprints/default.py": blueprint_source(marker)})
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "agent branch merged")
    return repo


def run_cli(repo, tmp_path, *extra):
    return minion("run", "--repo", str(repo), "--model", write_script(tmp_path, []), *extra, "a task")


def assert_refused(result, repo, *names):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "minion trust --repo" in result.stderr
    assert str(repo.resolve()) in result.stderr
    for name in names:
        assert str(repo.resolve() / ".minion" / "blueprints" / name) in result.stderr


def test_an_untrusted_repo_blueprint_does_not_run(hostile, tmp_path, marker):
    result = run_cli(hostile, tmp_path)
    assert_refused(result, hostile, "default.py")
    assert "never trusted" in result.stderr
    assert not marker.exists()
    assert RunStore().recent() == []  # refused before any run was made

    as_json = run_cli(hostile, tmp_path, "--json")
    error = json.loads(as_json.stdout)
    assert error["exit_code"] == 2
    assert f"minion trust --repo {shlex.quote(str(hostile.resolve()))}" in error["error"]
    assert not marker.exists()


def test_after_trust_it_runs_and_a_one_byte_change_is_refused_again(hostile, tmp_path, marker):
    trusted = minion("trust", "--repo", str(hostile))
    assert trusted.returncode == 0, trusted.stderr
    path = hostile.resolve() / ".minion" / "blueprints" / "default.py"
    import hashlib

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert str(path) in trusted.stdout and digest[:12] in trusted.stdout
    assert f"{path.stat().st_size} bytes" in trusted.stdout

    ok = run_cli(hostile, tmp_path, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["status"] == "ok"
    assert marker.exists()  # it really was the repo's blueprint that ran
    marker.unlink()

    data = path.read_bytes()
    path.write_bytes(data.replace(b"just commit", b"just commit!"))
    refused = run_cli(hostile, tmp_path)
    assert_refused(refused, hostile, "default.py")
    assert "changed since you trusted it" in refused.stderr
    assert not marker.exists()

    listed = minion("trust", "--list", "--repo", str(hostile))
    assert listed.returncode == 0 and "UNTRUSTED" in listed.stdout and "changed since trusted" in listed.stdout


def test_revoke_makes_it_untrusted_again(hostile, tmp_path, marker):
    assert minion("trust", "--repo", str(hostile)).returncode == 0
    listed = minion("trust", "--list", "--repo", str(hostile))
    assert listed.stdout.startswith("trusted ")

    revoked = minion("trust", "--revoke", "--repo", str(hostile))
    assert revoked.returncode == 0 and "revoked" in revoked.stdout and "default.py" in revoked.stdout
    assert_refused(run_cli(hostile, tmp_path), hostile, "default.py")
    assert not marker.exists()
    assert "never trusted" in minion("trust", "--list", "--repo", str(hostile)).stdout


def test_an_untrusted_file_blocks_even_a_builtin_blueprint(repo, tmp_path, marker):
    """`extra.py` does not look like it overrides `default`; it blocks the repo all the same."""
    write_files(repo, {".minion/blueprints/extra.py": blueprint_source(marker, "extra")})
    result = run_cli(repo, tmp_path, "--blueprint", "default")
    assert_refused(result, repo, "extra.py")
    assert not marker.exists()


def test_a_new_file_next_to_trusted_ones_blocks_the_repo(hostile, tmp_path, marker):
    trust_repo(hostile)
    write_files(hostile, {".minion/blueprints/zz_added.py": blueprint_source(marker, "default")})
    result = run_cli(hostile, tmp_path)
    assert_refused(result, hostile, "zz_added.py")
    assert "default.py" not in result.stderr.replace("zz_added.py", "")  # only the untrusted one is named
    assert not marker.exists()


def test_a_symlink_out_of_the_repo_is_refused(repo, tmp_path, marker):
    outside = tmp_path / "elsewhere.py"
    outside.write_text(blueprint_source(marker))
    (repo / ".minion" / "blueprints").mkdir(parents=True)
    (repo / ".minion" / "blueprints" / "default.py").symlink_to(outside)

    trusted = minion("trust", "--repo", str(repo))
    assert trusted.returncode == 2 and "outside the repository" in trusted.stderr
    assert not (state_dir() / "trust.json").exists()  # all or nothing: nothing was trusted

    result = run_cli(repo, tmp_path)
    assert result.returncode == 2 and "outside the repository" in result.stderr
    assert not marker.exists()


def test_a_symlink_inside_the_repo_is_trusted_by_its_target_content(repo, tmp_path, marker):
    write_files(repo, {"tools/bp.py": blueprint_source(marker)})
    (repo / ".minion" / "blueprints").mkdir(parents=True)
    (repo / ".minion" / "blueprints" / "default.py").symlink_to(repo / "tools" / "bp.py")
    assert minion("trust", "--repo", str(repo)).returncode == 0
    check_blueprint("default", repo.resolve())
    (repo / "tools" / "bp.py").write_text(blueprint_source(marker) + "# changed\n")
    with pytest.raises(UntrustedBlueprint):
        check_blueprint("default", repo.resolve())
    assert "revoked" in minion("trust", "--revoke", "--repo", str(repo)).stdout
    assert not marker.exists()


def test_a_fifo_is_refused_without_hanging(repo, tmp_path, marker):
    (repo / ".minion" / "blueprints").mkdir(parents=True)
    os.mkfifo(repo / ".minion" / "blueprints" / "default.py")
    result = run_cli(repo, tmp_path)  # a hang would hit the subprocess timeout
    assert result.returncode == 2 and "is a FIFO" in result.stderr
    trusted = minion("trust", "--repo", str(repo), timeout=30)
    assert trusted.returncode == 2 and "is a FIFO" in trusted.stderr


def test_no_repo_blueprints_need_no_trust(repo, tmp_path):
    assert untrusted(repo) == []
    check_blueprint("default", repo.resolve())
    assert "nothing to trust" in minion("trust", "--repo", str(repo)).stderr


async def test_a_file_changed_after_the_run_was_created_does_not_run(hostile, tmp_path, marker):
    """The worker checks again, and runs the very bytes it checked."""
    trust_repo(hostile)
    store = RunStore()
    record = create_run(RunRequest(task="t", repo=hostile, model=write_script(tmp_path, [])), store)
    path = hostile / ".minion" / "blueprints" / "default.py"
    path.write_text(path.read_text() + "# one more line\n")
    with pytest.raises(UntrustedBlueprint, match="minion trust --repo"):
        await execute_run(record.id, store)
    assert store.get(record.id).status is Status.FAILED
    assert not marker.exists()


def test_declared_names_read_nothing_untrusted(hostile):
    with pytest.raises(UntrustedBlueprint) as caught:
        declared_names(hostile.resolve())
    assert caught.value.exit_code == 2 and isinstance(caught.value, MinionError)
    assert [p.name for p, _ in untrusted(hostile)] == ["default.py"]


def test_the_trust_record_is_private_json(hostile):
    trust_repo(hostile)
    record = state_dir() / "trust.json"
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    data = json.loads(record.read_text())
    path = str(hostile.resolve() / ".minion" / "blueprints" / "default.py")
    assert data["version"] == 1 and set(data["files"]) == {path}
    import hashlib

    assert data["files"][path]["sha256"] == hashlib.sha256((hostile / ".minion/blueprints/default.py").read_bytes()).hexdigest()
    assert not [p for p in record.parent.iterdir() if p.name.startswith(".trust-")]  # no temp file left


def test_a_damaged_trust_record_trusts_nothing(hostile, tmp_path, marker):
    trust_repo(hostile)
    (state_dir() / "trust.json").write_text("{not json")
    result = run_cli(hostile, tmp_path)
    assert result.returncode == 2 and "damaged" in result.stderr
    assert not marker.exists()


async def test_the_editor_shows_why_a_delegation_is_refused(tmp_path, marker):
    """The language server refuses the run with the same message, as an error notification."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "lsp"))
    from lsprotocol import types
    from pygls.exceptions import JsonRpcInvalidParams

    from lsp_session import FILES, code_actions, open_file, run_command, session, settings, titled
    from support.gitrepo import make_repo

    repo = make_repo(tmp_path / "user repo ü", {**FILES, ".minion/blueprints/default.py": blueprint_source(marker)})
    async with session(repo, "neovim", settings(write_script(tmp_path, []))) as (client, _):
        uri = open_file(client, repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        with pytest.raises(JsonRpcInvalidParams, match="minion trust --repo"):
            await run_command(client, handoff.command)
        [shown] = [m for m in client.messages if m.type == types.MessageType.Error]
        assert "default.py" in shown.message and "minion trust --repo" in shown.message
    assert not marker.exists()


async def test_the_editor_asks_once_and_trusting_runs_the_blueprint(tmp_path, marker):
    """"Trust and run" in the editor trusts the files it names, and the run starts; the
    question names each file with its hash and says where the code runs."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "lsp"))
    from lsp_session import FILES, code_actions, open_file, run_command, session, settings, titled, until
    from support.gitrepo import make_repo

    repo = make_repo(tmp_path / "user repo ü", {**FILES, ".minion/blueprints/default.py": blueprint_source(marker)})
    async with session(repo, "vscode", settings(write_script(tmp_path, [])), answer="Trust and run") as (client, rec):
        uri = open_file(client, repo / "calc/ops.py")
        handoff = titled(await code_actions(client, uri, 1), "Hand off TODO to minion")
        started = await run_command(client, handoff.command)
        assert started["runId"]
        asked = rec.message_requests[0]
        assert "default.py" in asked.message and "outside the sandbox" in asked.message
        assert [a.title for a in asked.actions] == ["Trust and run", "Cancel"]
        await until(marker.exists, what="the trusted blueprint to run")
    assert untrusted(repo) == []

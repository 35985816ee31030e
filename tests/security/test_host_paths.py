"""Host-side readers and writers of the run's worktree: the search, editor and outline tools,
the rule files and the anchor. The agent (or the repo) controls every path in the worktree:
a tracked folder may become a symlink to the user's home or to the user's real repo, a
file a FIFO. The host must read and write only regular files really inside the worktree
(issue 11), and never hang."""

import json
import os
import stat
import threading
import time
from pathlib import Path

from battery import agent_run, editor, marker
from minion.context import Anchor, load_rules, render_anchor
from support.gitrepo import DEFAULT_FILES, make_repo, run_git
from support.script import bash, done, tool

ORIGINAL_CFG = "debug = false\n"


def _ident(value: str) -> str:
    return value.replace("-", "_")


def _in_seconds(fn, *args, limit: float = 5.0):
    """``fn(*args)`` in a thread: (finished within ``limit``, its value). A host read that
    blocks on a FIFO shows as not finished instead of hanging the test."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(limit)
    return (not thread.is_alive() and bool(out)), (out[0] if out else None)


async def test_tools_never_follow_a_folder_link_out_of_the_worktree(visible, tmp_path, attacks):
    home = visible / "home" / ".docker"
    home.mkdir(parents=True)
    home_secret, repo_secret = marker("docker"), marker("repo")
    (home / "config.json").write_text(f'{{"auths": "{home_secret}"}}\n')
    (home / "helper.py").write_text(f"def {_ident(home_secret)}():\n    pass\n")
    repo = make_repo(visible / "user repo", {
        **DEFAULT_FILES, ".gitignore": "__pycache__/\nsecret/\n",
        "docker/config.json": "{}\n", "docker/helper.py": "def helper():\n    pass\n", "config/app.cfg": ORIGINAL_CFG,
    })
    (repo / "secret").mkdir()
    (repo / "secret" / "app.cfg").write_text(f"token = {repo_secret}\n")  # ignored: only in the user's repo
    secrets = (home_secret, _ident(home_secret), repo_secret)
    before = {p: p.read_text() for p in (home / "config.json", repo / "secret" / "app.cfg")}

    turns = [
        [bash(f"rm -rf docker config && ln -s '{home}' docker && ln -s '{repo}/secret' config && "
              "rm calc/ops.py && mkfifo calc/ops.py && echo planted")],  # 0
        [
            tool("search", pattern="BATTERY-SECRET|import add|token"),  # 1
            tool("search", pattern=".", path="docker"),  # 2
            tool("search", pattern=".", path=f"{repo}/config"),  # 3
            editor("view", "docker/config.json"),  # 4
            editor("str_replace", "docker/config.json", old_str=home_secret, new_str="pwned"),  # 5
            editor("insert", "docker/config.json", insert_line=0, insert_text="pwned"),  # 6
            editor("create", "docker/planted.txt", file_text="pwned"),  # 7
            editor("view", "config/app.cfg"),  # 8
            editor("str_replace", f"{repo}/config/app.cfg", old_str="token", new_str="pwned"),  # 9
            tool("outline", path="docker/helper.py"),  # 10
            editor("view", "calc/ops.py"),  # 11: the FIFO
            tool("outline", path="calc/ops.py"),  # 12: the FIFO
        ],
    ]
    # Unsandboxed: the sandbox's kernel filter refuses mkfifo, and the host-side tools must
    # hold without it (sandbox = "none" gives the agent the whole machine anyway).
    run = await agent_run(repo, tmp_path, [*turns, done(), done()], max_wall_seconds=30, sandbox="none")
    worktree = Path(run.record.worktree)

    # Positive controls: the agent's links do lead, on the host, to the secrets, and the
    # search itself works (it finds the repo's own text).
    assert "planted" in run.output(0)
    assert os.path.realpath(worktree / "docker/config.json") == str(home / "config.json")
    assert home_secret in (worktree / "docker/config.json").read_text()
    assert repo_secret in (worktree / "config/app.cfg").read_text()
    assert stat.S_ISFIFO((worktree / "calc/ops.py").lstat().st_mode)
    assert "tests/test_ops.py:1: from calc.ops import add" in run.output(1)

    def leaks(i: int) -> bool:
        return any(s in run.output(i) for s in secrets)

    untouched = all(p.read_text() == text for p, text in before.items()) and not (home / "planted.txt").exists()
    attacks.check("search: a tracked folder replaced by a link to ~/.docker, or to the user's repo; a FIFO",
                  not leaks(1) and run.seconds(1) < 5, run.output(1))
    attacks.check("search: in a folder that links to ~/.docker", run.refused(2) and not leaks(2), run.output(2))
    attacks.check("search: in a folder that links into the user's repo", run.refused(3) and not leaks(3),
                  run.output(3))
    attacks.check("editor: view a file through a folder that links to ~/.docker",
                  run.refused(4) and not leaks(4), run.output(4))
    for i, command in [(5, "str_replace"), (6, "insert"), (7, "create")]:
        attacks.check(f"editor: {command} through a folder that links to ~/.docker",
                      run.refused(i) and not leaks(i) and untouched, run.output(i))
    attacks.check("editor: view an ignored file of the user's repo through a folder link",
                  run.refused(8) and not leaks(8), run.output(8))
    attacks.check("editor: str_replace in the user's repo through a folder link",
                  run.refused(9) and not leaks(9) and untouched, run.output(9))
    attacks.check("outline: a file through a folder that links to ~/.docker",
                  run.refused(10) and not leaks(10), run.output(10))
    for i, name in [(11, "editor: view"), (12, "outline")]:
        attacks.check(f"{name} a FIFO in place of a tracked file", run.refused(i) and run.seconds(i) < 5,
                      run.output(i))
    for i in (4, 10):
        assert "path escapes the worktree: " in run.output(i), run.output(i)
    attacks.check("commit: a tracked file turned into a FIFO (git add fails on one)",
                  "calc/ops.py" in {r.path for r in run.record.refused} and run.record.status.value == "ok",
                  (run.record.status, run.record.error))


async def test_rule_files_that_link_out_of_the_repo_stay_out_of_the_prompt(visible, tmp_path, attacks):
    outside = visible / "outside"
    secrets = {name: marker(name) for name in ("agents", "cursor", "copilot")}
    write = {"agents.md": secrets["agents"], "rules/x.mdc": f"---\nalwaysApply: true\n---\n{secrets['cursor']}\n",
             "github/copilot-instructions.md": secrets["copilot"]}
    for rel, content in write.items():
        (outside / rel).parent.mkdir(parents=True, exist_ok=True)
        (outside / rel).write_text(content)
    repo = make_repo(visible / "hostile repo", {**DEFAULT_FILES, "CLAUDE.md": "Keep functions small.\n"})
    (repo / ".cursor").mkdir()
    links = {"AGENTS.md": outside / "agents.md", ".cursor/rules": outside / "rules", ".github": outside / "github"}
    for link, target in links.items():
        os.symlink(target, repo / link)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-qm", "hostile links")
    # Positive control: on the host the repo's links lead to the secrets.
    assert secrets["agents"] in (repo / "AGENTS.md").read_text()
    assert secrets["cursor"] in (repo / ".cursor/rules/x.mdc").read_text()
    assert secrets["copilot"] in (repo / ".github/copilot-instructions.md").read_text()

    run = await agent_run(repo, tmp_path, [[bash("true")]])
    context = json.dumps(next(n.result for n in run.store.nodes(run.record.id) if n.name == "context"))
    assert "Keep functions small." in context  # positive control: a rule file does reach the prompt
    attacks.check("rules: AGENTS.md a link to a file outside the repo", secrets["agents"] not in context, context)
    attacks.check("rules: .cursor/rules a link to a folder outside the repo", secrets["cursor"] not in context,
                  context)
    attacks.check("rules: .github a link to a folder outside the repo (copilot instructions)",
                  secrets["copilot"] not in context, context)


def test_rule_files_and_anchors_the_host_reads_take_regular_files_inside_only(visible, attacks):
    outside = visible / "outside"
    (outside / "pkg").mkdir(parents=True)
    secret = marker("rule")
    (outside / "secret.md").write_text(f"{secret}\n")
    (outside / "pkg" / "AGENTS.md").write_text(f"{secret}\n")
    (outside / "pkg" / "mod.py").write_text(f"def {_ident(secret)}():\n    pass\n")
    (outside / "y.mdc").write_text(f"---\nalwaysApply: true\n---\n{secret}\n")
    repo = make_repo(visible / "repo", {**DEFAULT_FILES, ".github/copilot-instructions.md": "a real rule\n",
                                        ".cursor/rules/ok.mdc": "---\nalwaysApply: true\n---\ncursor ok\n"})
    os.symlink(outside / "secret.md", repo / "CLAUDE.md")
    os.symlink(outside / "y.mdc", repo / ".cursor/rules/y.mdc")
    os.symlink(outside / "pkg", repo / "pkg")
    # Positive control: on the host these lead to the secret.
    assert all(secret in (repo / rel).read_text() for rel in ("CLAUDE.md", ".cursor/rules/y.mdc", "pkg/AGENTS.md"))

    finished, rules = _in_seconds(load_rules, repo, "pkg/mod.py")
    text = rules.render() if rules else ""
    assert "a real rule" in text and "cursor ok" in text  # positive control
    attacks.check("rules: CLAUDE.md, .cursor/rules/y.mdc links out, pkg/AGENTS.md in a folder linked out",
                  finished and secret not in text, text)

    fifo_repo = make_repo(visible / "fifo repo", {".cursor/rules/ok.mdc": "---\nalwaysApply: true\n---\nok\n"})
    for rel in ("AGENTS.md", "CLAUDE.md", ".cursor/rules/x.mdc", ".github/copilot-instructions.md", "sub/AGENTS.md"):
        (fifo_repo / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo_repo / rel)
    started = time.monotonic()
    finished, rules = _in_seconds(load_rules, fifo_repo, "sub/x.py")
    attacks.check("rules: FIFOs in place of AGENTS.md, CLAUDE.md, an .mdc and the copilot instructions",
                  finished and rules.render() == "## .cursor/rules/ok.mdc\n\nok",
                  f"{time.monotonic() - started:.1f}s {rules}")

    (repo / "own.py").write_text("def own():\n    pass\n")
    os.symlink(outside / "pkg" / "mod.py", repo / "linked.py")
    os.mkfifo(repo / "fifo.py")
    finished, own = _in_seconds(render_anchor, repo, Anchor("selection", "own.py", 0, 0))
    assert finished and "def own():" in own  # positive control: the anchor's file is shown
    for path, how in [("linked.py", "a link to a file outside"), ("pkg/mod.py", "in a folder linked outside"),
                      ("fifo.py", "a FIFO")]:
        finished, shown = _in_seconds(render_anchor, repo, Anchor("selection", path, 0, 0))
        attacks.check(f"anchor: the anchor's file is {how}",
                      finished and secret not in shown and _ident(secret) not in shown
                      and "is not in the repository" in shown, shown)

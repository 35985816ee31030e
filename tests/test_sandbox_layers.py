"""The sandbox's writable layers, tool caches and the project's Python environment, against
real bubblewrap: tools write where they must (``node_modules/.cache``, Go's and cargo's
caches), never into the user's folders, and what a run writes goes with it or, for the tool
caches, stays with its repository only.

Everything lives under /var/tmp (see test_sandbox.py for why not /tmp).
"""

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from minion.sandbox import Sandbox, explain
from support.gitrepo import make_repo
from test_sandbox import failed, needs_bwrap, new_policy, run, tree_digest, user_repo, visible  # noqa: F401

pytestmark = needs_bwrap


def require(tool: str, package: str) -> str:
    """The tool's path; a clear failure, never a skip, when it is missing (CI installs it)."""
    found = shutil.which(tool)
    if not found:
        pytest.fail(f"{tool} is not installed: install {package} (CI does) to test the sandbox's {tool} caches")
    return found


# ---------------------------------------------------------------- dependency folders


def plant_node_modules(repo: Path) -> Path:
    """A node_modules as npm leaves it: a package, a tool in .bin that writes its cache the
    way ava does (``node_modules/.cache/<tool>`` from the project root), a workspace link in
    a scope, and a .cache the host's own runs left."""
    modules = repo / "node_modules"
    (modules / "lib").mkdir(parents=True)
    (modules / "lib/index.js").write_text("module.exports = 'lib';\n")
    (modules / ".bin").mkdir()
    (modules / ".bin/cache-tool").write_text("#!/bin/sh\nmkdir -p node_modules/.cache/x && echo cached > "
                                             "node_modules/.cache/x/y && cat node_modules/.cache/x/y\n")
    (modules / ".bin/cache-tool").chmod(0o755)
    (modules / "@org").mkdir()
    (modules / "@org/pkg").symlink_to("../../packages/pkg")
    (modules / ".cache/host").mkdir(parents=True)
    (modules / ".cache/host/entry").write_text("the host's\n")
    return modules


async def test_node_modules_cache_is_writable_in_a_run_private_layer(visible):
    repo = make_repo(visible / "js repo", {"packages/pkg/index.js": "workspace\n", ".gitignore": "node_modules/\n"})
    modules = plant_node_modules(repo)
    before = tree_digest(modules)
    sandbox = Sandbox(new_policy(repo, "run1"))

    r = await sandbox.run("node_modules/.bin/cache-tool && cat node_modules/lib/index.js node_modules/@org/pkg/index.js")
    assert r.exit_code == 0 and r.output == "cached\nmodule.exports = 'lib';\nworkspace\n", r.output
    for write in ["touch node_modules/new", "echo x > node_modules/lib/index.js", "rm -r node_modules/lib"]:
        r = await sandbox.run(write)
        assert failed(r) and "Read-only" in r.output, (write, r.output)
    r = await sandbox.run("ls -A node_modules/.cache; ls -A ~/.minion-layers; ln -s / ~/.minion-layers/x")
    assert r.output.startswith("x\nln: ") and "Read-only" in r.output, r.output  # the layers' host side: hidden
    assert tree_digest(modules) == before
    assert (sandbox.policy.layers / "node_modules/cache/x/y").read_text() == "cached\n"  # in the run's HOME

    r = await run(new_policy(repo, "run2"), "ls -A node_modules/.cache; node_modules/.bin/cache-tool")
    assert r.exit_code == 0 and r.output == "cached\n", r.output  # a new run starts with an empty .cache
    assert tree_digest(modules) == before


async def test_the_layers_host_side_is_made_afresh_and_never_followed(visible):
    """A resumed run builds its layers again: a link in their place (from a run with
    sandbox = "none", which may write anywhere) is removed, not written through."""
    repo = make_repo(visible / "js repo", {".gitignore": "node_modules/\n"})
    plant_node_modules(repo)
    victim = visible / "victim"
    victim.mkdir()
    (victim / "keep").write_text("mine\n")
    policy = new_policy(repo, "run1")
    policy.home.mkdir(parents=True)
    policy.layers.symlink_to(victim)
    policy.tool_cache.parent.mkdir(parents=True)
    policy.tool_cache.symlink_to(victim)

    r = await run(policy, "node_modules/.bin/cache-tool; ls -A /run/minion/cache")
    assert r.exit_code == 0 and r.output == "cached\n", r.output
    assert sorted(p.name for p in victim.iterdir()) == ["keep"] and (victim / "keep").read_text() == "mine\n"
    assert not policy.layers.is_symlink() and not policy.tool_cache.is_symlink()


async def test_python_writes_no_bytecode_into_the_worktree(visible):
    repo = make_repo(visible / "py repo", {"calc/__init__.py": "", "calc/ops.py": "X = 1\n", ".gitignore": "*.log\n"})
    policy = new_policy(repo)
    r = await run(policy, f"{sys.executable} -c 'import calc.ops; print(calc.ops.X)'; git status --short")
    assert r.exit_code == 0 and r.output == "1\n", r.output
    assert not list(policy.worktree.rglob("__pycache__"))


# ---------------------------------------------------------------------- tool caches


def go_module(repo: Path, name: str) -> Path:
    return make_repo(repo, {
        "go.mod": f"module example.com/{name}\n\ngo 1.19\n",
        "main.go": "package main\n\nfunc Add(a, b int) int { return a + b }\n\nfunc main() { println(Add(1, 2)) }\n",
        "main_test.go": 'package main\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n'
                        '\tif Add(1, 2) != 3 {\n\t\tt.Fatal("add")\n\t}\n}\n',
    })


async def test_go_build_cache_is_kept_per_repository(visible):
    require("go", "golang-go")
    repo, other = go_module(visible / "go repo", "app"), go_module(visible / "other go repo", "other")
    first = new_policy(repo, "run1")
    r = await run(first, "go env GOCACHE GOPROXY && go build ./... && go test ./...")
    assert r.exit_code == 0, r.output
    assert r.output.startswith("/run/minion/cache/go-build\noff\n") and "(cached)" not in r.output, r.output
    cache = first.tool_cache
    assert len(list((cache / "go-build").rglob("*-d"))) > 10  # the build's outputs, on the host
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o700 for p in (cache, cache.parent))

    r = await run(new_policy(repo, "run2"), "go test ./...")  # another run of the same repository
    assert r.exit_code == 0 and "ok  \texample.com/app\t(cached)" in r.output, r.output

    elsewhere = new_policy(other, "run3")
    assert elsewhere.tool_cache != cache
    r = await run(elsewhere, f"ls -A /run/minion/cache; ls '{cache}'; go test ./...")
    assert r.output.startswith("ls: cannot access") and "(cached)" not in r.output, r.output
    assert "ok  \texample.com/other" in r.output, r.output


def go_module_cache(root: Path) -> tuple[Path, dict]:
    """A host module cache holding example.com/dep, filled by the host's go from a file
    proxy, and what go says of the module (its sums)."""
    proxy, source = root / "proxy/example.com/dep/@v", root / "dep"
    proxy.mkdir(parents=True)
    files = {"go.mod": "module example.com/dep\n\ngo 1.19\n", "dep.go": "package dep\n\nfunc Answer() int { return 42 }\n"}
    with zipfile.ZipFile(proxy / "v1.0.0.zip", "w") as z:
        for name, text in files.items():
            z.writestr(f"example.com/dep@v1.0.0/{name}", text)
    (proxy / "v1.0.0.mod").write_text(files["go.mod"])
    (proxy / "v1.0.0.info").write_text('{"Version": "v1.0.0"}')
    (proxy / "list").write_text("v1.0.0\n")
    source.mkdir()
    (source / "go.mod").write_text("module example.com/user\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n")
    modcache = root / "modcache"
    env = {**os.environ, "GOMODCACHE": str(modcache), "GOPROXY": f"file://{root / 'proxy'}", "GOSUMDB": "off",
           "GOFLAGS": "-modcacherw"}  # writable folders, so the test's temp dir can be removed
    done = subprocess.run(["go", "mod", "download", "-json", "example.com/dep"], cwd=source, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return modcache, json.loads(done.stdout)


async def test_go_reads_the_hosts_module_cache_read_only_without_the_network(visible, monkeypatch):
    """No GOFLAGS needed: the module cache is only read, and GOPROXY=off fails at once."""
    require("go", "golang-go")
    modcache, info = go_module_cache(visible / "gohost")
    assert Path(info["Dir"], "dep.go").is_file()  # positive control: the host's cache has it
    monkeypatch.setenv("GOMODCACHE", str(modcache))
    repo = make_repo(visible / "go user", {
        "go.mod": "module example.com/user\n\ngo 1.19\n\nrequire example.com/dep v1.0.0\n",
        "go.sum": f"example.com/dep v1.0.0 {info['Sum']}\nexample.com/dep v1.0.0/go.mod {info['GoModSum']}\n",
        "main.go": 'package main\n\nimport "example.com/dep"\n\nfunc main() { println(dep.Answer()) }\n',
    })
    before = tree_digest(modcache)
    policy = new_policy(repo)
    r = await run(policy, "go env GOMODCACHE GOFLAGS && go run . && git status --short")
    assert r.exit_code == 0 and r.output == f"{modcache}\n\n42\n", r.output
    r = await run(policy, f"touch '{modcache}/x'; go get example.com/missing@v1.0.0")
    assert "Read-only" in r.output and "GOPROXY=off" in r.output, r.output
    assert tree_digest(modcache) == before


async def test_cargo_builds_into_each_runs_own_target(visible):
    """Not shared: cargo tells a fresh build by file times, and two runs (or a run and its
    baseline) show different trees at the same path, so one would run the other's binary."""
    require("cargo", "cargo (rustup)")
    crate = {"Cargo.toml": '[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n',
             "src/main.rs": 'fn main() { println!("tiny ran"); }\n', ".gitignore": "/target\n"}
    repo = make_repo(visible / "crate", crate)
    r = await run(new_policy(repo, "run1"), "cargo build --offline && echo ${CARGO_TARGET_DIR:-unset} && ls target/debug/tiny")
    assert r.exit_code == 0 and "unset\n" in r.output and "target/debug/tiny" in r.output, r.output
    r = await run(new_policy(repo, "run2"), "ls target/debug/tiny")
    assert failed(r) and "No such file" in r.output, r.output


async def test_the_tool_cache_shows_no_other_repository_and_no_state(visible):
    repo, other = make_repo(visible / "repo a"), make_repo(visible / "repo b")
    theirs = new_policy(other, "run1")
    await run(theirs, "echo theirs > /run/minion/cache/mark")
    assert (theirs.tool_cache / "mark").read_text() == "theirs\n"  # positive control
    policy = new_policy(repo, "run2")
    state = policy.state_dir
    r = await run(policy, f"ls -A /run/minion/cache /run/minion; cat /run/minion/cache/../*/mark; "
                          f"ls '{state}/caches' '{theirs.tool_cache}'")
    assert "theirs" not in r.output, r.output
    assert r.output.startswith("/run/minion:\ncache\ngit\n\n/run/minion/cache:\n"), r.output


# ------------------------------------------------------------ the project's Python


def make_venv(path: Path) -> Path:
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--without-pip", str(path)],
                   check=True)
    return path


async def test_a_python_env_outside_the_repo_is_shown_read_only_first_on_path(user_repo, visible):
    venv = make_venv(visible / "virtualenvs" / "proj-py3.11")
    before = tree_digest(venv)
    policy = new_policy(user_repo, python_env=venv)
    r = await run(policy, "echo $VIRTUAL_ENV; command -v python; python -c 'import sys; print(sys.prefix)'")
    assert r.exit_code == 0 and r.output == f"{venv}\n{venv}/bin/python\n{venv}\n", r.output
    assert Sandbox(policy).view().path.startswith(f"{venv}/bin:")
    r = await run(policy, "touch $VIRTUAL_ENV/x; python -m venv --without-pip --clear $VIRTUAL_ENV")
    assert failed(r) and "Read-only" in r.output, r.output
    assert tree_digest(venv) == before
    assert f"Python environment: {venv}, read-only" in explain(policy, Sandbox(policy).view())


async def test_a_python_env_that_is_more_than_an_environment_is_refused(visible):
    repo = make_repo(visible / "work" / "repo")
    home = visible / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh/id_ed25519").write_text("SECRET KEY\n")
    make_venv(home)  # a venv made in the home itself: showing it would show ~/.ssh
    project = make_venv(visible / "project")
    (project / ".git").mkdir()
    (visible / "not-a-venv").mkdir()
    refused = {home: "your home", Path("/tmp"): "keeps private", visible / "work": "holds it",
               repo / "envs": "inside the repository", project: "a project (.git)",
               visible / "not-a-venv": "not a virtualenv"}
    for n, (env, why) in enumerate(refused.items()):
        policy = new_policy(repo, f"run{n}", python_env=env, real_home=home)
        view = Sandbox(policy).view()
        assert "VIRTUAL_ENV" not in view.places and not view.path.startswith(str(env))
        assert [w for path, w in view.left_out if path == env and why in w], (env, view.left_out)
        assert f"Python environment: {env}: the project's Python environment, not shown: " in explain(policy, view)
        r = await run(policy, f"cat '{home}/.ssh/id_ed25519'; echo VIRTUAL_ENV=$VIRTUAL_ENV")
        assert "SECRET" not in r.output and f"VIRTUAL_ENV={env}\n" not in r.output, (env, r.output)

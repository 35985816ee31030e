"""Secrets leaving through the result: an agent that read a secret (a prompt-injected one,
say) writes it into the worktree, plain or encoded, for the host-side commit to carry onto
the user's branch, and prints it for the event log. The values of secret environment
variables, in their base64, hex and URL-encoded forms, and known secret shapes, are left
out of the commit and named (without the secret); the log and `minion show` hold none."""

import base64
import json
import shlex
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote_plus

from battery import agent_run, marker
from support.fingerprint import assert_unchanged, fingerprint
from support.gitrepo import run_git
from support.script import bash, done


def forms(value: str) -> dict[str, str]:
    raw = value.encode()
    return {
        "plain": value,
        "base64": base64.b64encode(raw).decode(),
        "hex": raw.hex(),
        "URL-encoded": quote_plus(value),
        # inside a longer urlsafe base64 string, two bytes in: no padding, shifted alignment
        "urlsafe base64 inside a longer one": base64.urlsafe_b64encode(b"k:" + raw + b"~~").decode().rstrip("="),
    }


FILES = {"plain": "docs/notes.txt", "base64": "docs/build-cache.txt", "hex": "docs/cache.hex",
         "URL-encoded": "docs/callback-url.txt", "urlsafe base64 inside a longer one": "assets/blob.b64"}


async def test_a_secret_in_any_form_stays_off_the_branch_and_out_of_the_log(user_repo, tmp_path, attacks,
                                                                             monkeypatch):
    value = f"{marker('env-token')}/p+q=r&s?"  # URL-encoding changes it
    monkeypatch.setenv("MY_SERVICE_TOKEN", value)
    written = forms(value)
    assert len(set(written.values())) == len(written)
    # The sandbox does not get MY_SERVICE_TOKEN: the agent writes what it read elsewhere.
    ghp = "ghp_" + uuid.uuid4().hex + "Ab12"
    commands = [bash("mkdir -p docs assets")]
    commands += [bash(f"printf '%s\\n' {shlex.quote(form)} > {FILES[kind]}") for kind, form in written.items()]
    commands += [bash(f"printf 'GITHUB = \"%s\"\\n' {ghp} > settings_local.py"),
                 bash("echo 'ok = True' > fine.py"),
                 bash(f"echo {shlex.quote(written['base64'])}; echo {shlex.quote(written['hex'])}")]
    before = fingerprint(user_repo)
    # The agent is told what the commit leaves out (never the secret) and leaves it in both repairs.
    run = await agent_run(user_repo, tmp_path, [commands, done("Finished."), done("Left as is."), done("Still.")])
    record = run.record
    assert record.status.value == "ok", (record.status, record.error)
    tree = run_git(user_repo, "ls-tree", "-r", "-z", "--name-only", record.branch).split("\0")
    refused = {r.path: r.why for r in record.refused}
    assert "fine.py" in tree  # positive control: the harmless file of the same run is committed

    def holds_secret(text: str) -> list[str]:
        return [kind for kind, form in [*written.items(), ("ghp token", ghp)] if form in text]

    for kind, path in [*FILES.items(), ("a GitHub token's shape", "settings_local.py")]:
        attacks.check(f"exfiltration: the secret {kind} in a file committed",
                      path not in tree and path in refused, (path in tree, refused))
        why = refused.get(path, "")
        attacks.check(f"exfiltration: the secret {kind} in the refusal's reason", not holds_secret(why), why)
    assert "MY_SERVICE_TOKEN" in refused[FILES["base64"]] and "base64" in refused[FILES["base64"]]
    assert "GitHub token" in refused["settings_local.py"]
    for path in [*FILES.values(), "settings_local.py"]:  # they stay in the worktree
        assert holds_secret((Path(record.worktree) / path).read_text()), path
    assert run.output(len(commands) - 1).count("[REDACTED]") == 2  # the printed forms, masked
    log = run.log()
    attacks.check("exfiltration: a secret's form in the event log", not holds_secret(log), holds_secret(log))
    shown = subprocess.run([sys.executable, "-m", "minion.cli", "show", "--json", record.id],
                           capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["refused"]
    attacks.check("exfiltration: a secret's form in `minion show --json`",
                  not holds_secret(shown.stdout), holds_secret(shown.stdout))
    branch_blobs = run_git(user_repo, "log", "-p", record.branch, "--format=%B")
    attacks.check("exfiltration: a secret's form in the branch's history", not holds_secret(branch_blobs),
                  holds_secret(branch_blobs))
    every_object = subprocess.run(["git", "-C", str(user_repo), "cat-file", "--batch-all-objects", "--batch"],
                                  capture_output=True, check=True).stdout.decode(errors="replace")
    attacks.check("exfiltration: a secret's form in the user's object store (unreachable, but there)",
                  not holds_secret(every_object), holds_secret(every_object))
    assert_unchanged(before, fingerprint(user_repo))

"""The trust record keeps each repo's files apart, and loading a trusted file leaves no trace."""

import pytest

from minion.blueprint.registry import get_blueprint, load_blueprints
from minion.errors import UntrustedBlueprint
from minion.trust import repo_state, revoke_repo, trust_repo, untrusted
from support.gitrepo import make_repo, write_files

SOURCE = "from minion.blueprint import blueprint\n\n@blueprint('mine', 'x')\nasync def mine(run):\n    pass\n"


def test_repos_are_trusted_and_revoked_separately(tmp_path):
    one, two = (make_repo(tmp_path / name, {".minion/blueprints/mine.py": SOURCE}) for name in ("one", "two"))
    trust_repo(one)
    trust_repo(two)
    assert untrusted(one) == untrusted(two) == []
    assert [p.name for p in revoke_repo(one)] == ["mine.py"]
    assert [p.name for p, _ in untrusted(one)] == ["mine.py"] and untrusted(two) == []


def test_a_removed_file_is_listed_as_gone_and_dropped_by_trust(tmp_path):
    repo = make_repo(tmp_path / "r", {".minion/blueprints/mine.py": SOURCE, ".minion/blueprints/old.py": SOURCE})
    trust_repo(repo)
    (repo / ".minion/blueprints/old.py").unlink()
    assert [(s.path.name, s.sha256 is None) for s in repo_state(repo)] == [("mine.py", False), ("old.py", True)]
    trust_repo(repo)
    assert [s.path.name for s in repo_state(repo)] == ["mine.py"]


def test_loading_a_trusted_file_writes_no_bytecode_into_the_repo(tmp_path):
    repo = make_repo(tmp_path / "r", {".minion/blueprints/mine.py": SOURCE})
    with pytest.raises(UntrustedBlueprint):
        load_blueprints(repo)
    trust_repo(repo)
    assert get_blueprint("mine", repo).source == (repo / ".minion/blueprints/mine.py").resolve()
    assert {"default", "fix", "todo", "mine"} <= load_blueprints(repo).keys()
    assert not (repo / ".minion/blueprints/__pycache__").exists()


def test_no_repo_means_builtins_only(tmp_path):
    write_files(tmp_path, {"x.py": ""})
    assert {"default", "fix", "todo"} <= load_blueprints(None).keys()

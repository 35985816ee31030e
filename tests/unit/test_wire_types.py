"""The protocol's payloads are declared once (server/minion/lsp/wire.py): the TypeScript
types the VS Code extension compiles against are what scripts/wire_types.py writes from
their JSON schema, and every run's rules fit the wire."""

import importlib.util
import sys
from pathlib import Path

import pytest

from minion.lsp import wire
from minion.runs.model import RunRecord, Status

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("wire_types", ROOT / "scripts" / "wire_types.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("wire_types", module)
    spec.loader.exec_module(module)
    return module


def test_the_committed_typescript_is_what_the_generator_writes():
    generator = _generator()
    assert generator.TARGET.read_text() == generator.render(), (
        "editors/vscode/src/wire.ts is stale: run .venv/bin/python scripts/wire_types.py")
    assert generator.main(["--check"]) == 0


def test_the_schema_maps_to_typescript():
    type_of = _generator().type_of
    assert type_of({"anyOf": [{"type": "string"}, {"type": "null"}]}) == "string | null"
    assert type_of({"type": "array", "items": {"$ref": "#/$defs/RunAction"}}) == "RunAction[]"
    nullable = {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    assert type_of({"type": "array", "items": nullable}) == "(number | null)[]"
    assert type_of({"anyOf": [{"$ref": "#/$defs/Status"}, {"const": "cancelling"}]}) == 'Status | "cancelling"'
    assert type_of({"type": "object", "additionalProperties": True}) == "Record<string, unknown>"
    assert type_of({"enum": ["a", "b"], "type": "string"}) == '"a" | "b"'
    assert type_of({}) == "unknown"
    with pytest.raises(ValueError, match="no TypeScript"):
        type_of({"type": "tuple"})


def test_the_typescript_names_every_command_status_and_rule():
    text = _generator().render()
    for command in wire.Command:
        assert f'"{command}": ' in text  # CommandResults
    assert 'export type Status = "queued" | "running"' in text
    assert "export interface RunRow extends RunRules {" in text and "  created_at: number;" in text
    assert '"minion/runStatus": RunStatus;' in text and '"minion/capabilities": MinionCapabilities;' in text


@pytest.mark.parametrize("status", list(Status))
def test_every_status_has_rules_the_wire_can_say(status):
    for files in ([], ["a.py"]):
        record = RunRecord("1a2b", 1.5, 1.5, status, "/r", "task", "default", "m", files=files)
        row = wire.RunRow.of(record, None).dump()
        assert row["actions"] == record.actions == status.actions(has_changes=bool(files))
        assert (row["resumable"], row["ended"]) == (status.resumable, not status.active)
        notified = wire.RunStatus.of(record, status, None, 0).dump()
        assert {k: notified[k] for k in ("actions", "resumable", "ended")} == {
            k: row[k] for k in ("actions", "resumable", "ended")}
    assert set(wire.RunAction) <= set(wire.Command)


def test_the_commands_the_wire_declares_are_the_servers():
    from minion.lsp.server import create_server

    assert set(create_server().protocol.fm.commands) == {str(c) for c in wire.Command} == {
        str(c) for c in wire.COMMAND_RESULTS}


def test_the_title_is_one_bounded_line_whose_node_is_cut_first():
    assert wire.title("implement", 3, 60, 42.4, 0.081) == "implement · turn 3/60 · 42 s · $0.08"
    assert wire.title("context", 0, 60, 185, 0) == "context · turn 0/60 · 3 min 05 s · $0.00"
    long = wire.title("a node with a very long name\nthat goes on and on and on", 12, 60, 7300, 12.5)
    assert len(long) == wire.TITLE_CHARS and long.endswith("… · turn 12/60 · 2 h 01 min · $12.50")
    assert "\n" not in long and long.startswith("a node with a very long ")
    assert len(wire.title("x" * 10, 10**9, 10**9, 10**9, 10**9)) <= wire.TITLE_CHARS
    record = RunRecord("1a2b", 100.0, 142.0, Status.OK, "/r", "task", "default", "m", turns=3)
    row = wire.RunRow.of(record, None)
    assert (row.title, row.elapsed_s, row.node, row.repo) == ("ok · turn 3/60 · 42 s · $0.00", 42.0, None, "/r")

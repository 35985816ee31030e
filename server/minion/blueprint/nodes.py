"""Nodes: every call a blueprint makes through its `Run` is one, recorded and checkpointed.

A node has a position (``seq``, its place in the run's order of calls), a name, a kind
(``step``, ``check`` or ``agent``), a status, timings and a summary; it becomes events in
the run's log and a row in the run store, with its result saved as JSON.

When a run resumes, the blueprint runs again from the top. Each node it asks for is
matched with the node recorded at the same position: a node that finished is *replayed*
(its saved result is loaded, restoring the run's state, instead of running again), and
the first one that did not finish runs for real, as does everything after it.

The rule that makes this sound: a blueprint's control flow is deterministic, decided only
by the results of earlier nodes (never by the time, randomness, or files read outside a
step). A node asked for that is not the one recorded at its position means the rule was
broken: `ReplayMismatch` names both, and the run stops there; the recorded nodes are kept.

The engine's own closing nodes (the commit of a run that stopped early, ``publish``) are
marked ``closing`` in their ``node.start`` event. They are not the blueprint's: a resumed
run that gets further than the earlier attempt replaces them, which is no mismatch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from ..agent.loop import AgentOutcome
from ..agent.usage import Usage
from ..errors import MinionError
from ..runs.events import EventLog, read_events
from ..runs.model import NodeRecord, Status
from ..runs.store import RunStore

T = TypeVar("T")


class StopRun(Exception):
    """Ends the run early with a status (a cap, stuck, refused…); work so far is committed."""

    def __init__(self, status: Status, summary: str):
        super().__init__(summary)
        self.status = status
        self.summary = summary


class ReplayMismatch(MinionError):
    """A resumed run's blueprint asked for another node than the one recorded at that position."""


def _identity(value: T) -> T:
    return value


@dataclass
class NodeKind(Generic[T]):
    """How a node's result is summarised, checkpointed and restored on replay."""

    kind: str  # step | check | agent
    summarize: Callable[[T], tuple[str, str]]  # result -> (status, summary)
    save: Callable[[T], Any] = field(default=_identity)  # result -> JSON
    load: Callable[[Any], T] = field(default=_identity)  # JSON -> result, restoring run state


def replayable(node: NodeRecord) -> bool:
    """Finished normally: an ok node, or a check that ran and failed."""
    return node.ended_at is not None and (node.status == "ok" or (node.kind == "check" and node.status == "failed"))


def _described(kind: str, name: str) -> str:
    return f"{kind} '{name}'"


class Nodes:
    """The run's nodes, in order: runs each one, or replays it from its checkpoint."""

    # Called with each node that finished normally, once it is stored and before its
    # node.end: the run waits at the node boundary (the fleet's worker pushes a checkpoint).
    after_node: ClassVar[Callable[[NodeRecord], None] | None] = None
    # Called with a long node that is still running, at a point it can be resumed from
    # (an agent node after a turn), once its partial result is stored. Without it (a local
    # run) nothing partial is stored: such a node runs again from its start.
    after_turn: ClassVar[Callable[[NodeRecord], None] | None] = None

    def __init__(self, run_id: str, store: RunStore, events: EventLog):
        self.run_id = run_id
        self.store = store
        self.events = events
        self.seq = 0  # the position of the next node
        # Checkpoints of an earlier attempt, replayed until the first unfinished node.
        recorded: list[NodeRecord] = store.nodes(run_id)
        self._checkpoints: dict[int, NodeRecord] = {n.seq: n for n in recorded}
        self._closing: set[int] = self._closing_positions(events) if self._checkpoints else set()
        self.mismatch: ReplayMismatch | None = None  # once found, every later node raises it again
        self._tail = 0  # where closing nodes go while the earlier attempt's nodes are kept
        self.running: NodeRecord | None = None
        self.carried: Any = None  # the partial result of the running node's cut-off earlier attempt

    @staticmethod
    def _closing_positions(events: EventLog) -> set[int]:
        """The positions whose recorded node is the engine's closing one: the latest
        ``node.start`` at each position is the one of the node recorded there."""
        latest: dict[int, bool] = {}
        for event in read_events(events.path):
            if event.get("type") == "node.start" and isinstance(event.get("seq"), int):
                latest[event["seq"]] = bool(event.get("closing"))
        return {seq for seq, closing in latest.items() if closing}

    def next_checkpoint(self) -> NodeRecord | None:
        """The blueprint's node the earlier attempt recorded at the next position, if any
        (its closing nodes are not the blueprint's)."""
        return None if self.seq in self._closing else self._checkpoints.get(self.seq)

    @property
    def replaying(self) -> bool:
        """Whether the blueprint's nodes of an earlier attempt remain to be replayed."""
        return any(seq >= self.seq and seq not in self._closing for seq in self._checkpoints)

    def _go_live(self, seq: int) -> None:
        """The rest of the earlier attempt is void: from ``seq`` on, everything runs for real."""
        if self._checkpoints:
            self.store.delete_nodes_from(self.run_id, seq)
            self._checkpoints = {}

    def _mismatch(self, message: str) -> ReplayMismatch:
        self.mismatch = ReplayMismatch(
            f"{message}. A resumed run replays its recorded nodes, so a blueprint must ask for the same "
            "nodes in the same order: its control flow may depend only on the results of earlier nodes, "
            "never on the time, randomness or files read outside a step. The run stops here; its "
            "recorded nodes are kept."
        )
        return self.mismatch

    async def run(self, name: str, kind: NodeKind[T], body: Callable[[], Awaitable[T]], *,
                  closing: bool = False) -> T:
        """Run ``body`` as a recorded node, or replay it from its checkpoint."""
        if self.mismatch is not None and not closing:
            raise self.mismatch
        seq = self.seq
        checkpoint = self._checkpoints.get(seq)
        if closing and (self.mismatch is not None or self.replaying):
            # The run ends amid (or at odds with) the earlier attempt's nodes, which stay for
            # the next resume (or for reading): the closing nodes go after them.
            seq = self._tail = max(self._tail, max(self._checkpoints) + 1)
            self._tail += 1
        elif checkpoint is not None:
            same = checkpoint.name == name and checkpoint.kind == kind.kind
            if seq in self._closing and not (closing and same):
                self._go_live(seq)  # the earlier attempt stopped here; this one gets further
            elif not same:
                raise self._mismatch(
                    f"replay mismatch at node {seq}: the run recorded {_described(checkpoint.kind, checkpoint.name)} "
                    f"there, but the blueprint now asks for {_described(kind.kind, name)}")
            elif replayable(checkpoint):
                self.seq += 1
                self.events.emit("node.replayed", seq=seq, name=name, kind=kind.kind, status=checkpoint.status)
                return kind.load(checkpoint.result)
        self.carried = None
        if seq == self.seq:
            if Nodes.after_turn is not None and checkpoint is not None and checkpoint.ended_at is None:
                # a partial result stored by an after_turn checkpoint, whose files the worktree has
                self.carried = checkpoint.result
            self._go_live(seq)
            self.seq += 1

        node = self.running = NodeRecord(self.run_id, seq, name, kind.kind, "running", time.time())
        self.store.start_node(node)
        self.events.emit("node.start", seq=seq, name=name, kind=kind.kind, **({"closing": True} if closing else {}))
        status, summary = "failed", ""
        try:
            result = await body()
            status, summary = kind.summarize(result)
            node.result = kind.save(result)
            if isinstance(result, AgentOutcome):
                node.usage = result.usage
            return result
        except StopRun as stop:
            status, summary = stop.status.value, stop.summary
            raise
        except asyncio.CancelledError:
            status, summary = "cancelled", "cancelled"
            raise
        except Exception as e:
            status, summary = "failed", f"{type(e).__name__}: {e}"
            raise
        finally:
            self.running = None
            node.status, node.summary, node.ended_at = status, summary, time.time()
            self.store.finish_node(node)
            if Nodes.after_node is not None and replayable(node):
                Nodes.after_node(node)
            self.events.emit(
                "node.end", seq=seq, name=name, kind=kind.kind, status=status, summary=summary,
                duration_s=round(node.ended_at - node.started_at, 3),
            )

    def turn_done(self, partial: Any, usage: Usage) -> None:
        """The running node reached a point it can be resumed from: store ``partial`` (JSON)
        as its result, for the ``after_turn`` checkpoint."""
        node = self.running
        if Nodes.after_turn is None or node is None:
            return
        node.result, node.usage = partial, usage
        self.store.finish_node(node)  # still running: only its result and usage change
        Nodes.after_turn(node)

    def discard_closing(self) -> None:
        """The run's end: closing nodes of an earlier attempt this one did not ask for again
        are dropped (the blueprint's own stay while they are still to replay)."""
        if self.mismatch is None and not self.replaying:
            self._go_live(self.seq)

    def blueprint_returned(self) -> None:
        """The blueprint ended: no node of its own may be left unasked (ReplayMismatch)."""
        if self.mismatch is not None:
            raise self.mismatch
        left = sorted(seq for seq in self._checkpoints if seq >= self.seq and seq not in self._closing)
        if left:
            node = self._checkpoints[left[0]]
            raise self._mismatch(
                f"replay mismatch at node {node.seq}: the run recorded {_described(node.kind, node.name)} there, "
                "but the blueprint now ends before it")

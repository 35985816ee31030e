"""The run workflow: claim a worker on the shared task queue, then execute the run on that
worker's own task queue (its worktree lives there). A worker that stops heartbeating (it
died) loses the run to the next worker that claims it.

Temporal re-imports this module in its workflow sandbox: it must stay deterministic and
import only `spec` (passed through) besides temporalio.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError, TimeoutType

with workflow.unsafe.imports_passed_through():
    from .spec import HANDOVER, Claim, ExecuteInput, Progress, RunOutcome, RunSpec

WORKFLOW = "MinionRun"
CLAIM = "minion.claim"
EXECUTE = "minion.execute"
HEARTBEAT_TIMEOUT = timedelta(seconds=6)  # a worker silent this long is taken for dead
MAX_ATTEMPTS = 3  # workers a run may lose before it is given up as lost
EXECUTE_GRACE_S = 300  # beyond the run's wall-clock cap: its checks, commit and push


@workflow.defn(name=WORKFLOW)
class MinionRun:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.worker: str | None = None
        self.state = "queued"

    @workflow.run
    async def run(self, spec: RunSpec) -> RunOutcome:
        cap = float(spec.settings.get("max_wall_seconds") or 1800)
        for attempt in range(MAX_ATTEMPTS):
            self.state = "queued"
            claim = await workflow.execute_activity(
                CLAIM, spec.run_id, result_type=Claim, task_queue=spec.task_queue,
                start_to_close_timeout=timedelta(days=1),  # it waits for a free slot on its worker
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=0.5),
                                         maximum_interval=timedelta(seconds=2)),
            )
            self.worker, self.state = claim.worker, "running"
            try:
                outcome = await workflow.execute_activity(
                    EXECUTE, ExecuteInput(spec, attempt), result_type=RunOutcome, task_queue=claim.queue,
                    start_to_close_timeout=timedelta(seconds=cap + EXECUTE_GRACE_S),
                    # Never scheduled twice on its own: a lost worker's run is claimed again above.
                    schedule_to_start_timeout=timedelta(seconds=30),
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_attempts=1),
                    cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
                )
            except ActivityError as e:
                if isinstance(e.cause, TimeoutError) and e.cause.type in (TimeoutType.HEARTBEAT,
                                                                            TimeoutType.SCHEDULE_TO_START):
                    why = "stopped answering"
                elif isinstance(e.cause, ApplicationError) and e.cause.type == HANDOVER:
                    why = "is shutting down"
                else:
                    raise
                self.add({"type": "log", "level": "warning", "ts": workflow.now().timestamp(), "run": spec.run_id,
                          "message": f"worker {claim.worker} {why}; the run moves to another worker"})
                continue
            self.state = "ended"
            return outcome
        self.state = "ended"
        return RunOutcome(status="lost", head=None, summary=f"the run lost {MAX_ATTEMPTS} workers in a row",
                          worker=self.worker or "", results_ref=None)

    def add(self, event: dict[str, Any]) -> None:
        self.events.append(event)

    @workflow.signal(name="events")
    def on_events(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)

    @workflow.query(name="progress")
    def progress(self, since: int) -> Progress:
        return Progress(events=self.events[since:], total=len(self.events), worker=self.worker, state=self.state)

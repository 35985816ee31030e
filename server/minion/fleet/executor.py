"""The Executor seam (runs/executor.py) for a long-lived client, the language server: each
run executes where its settings say, on this machine (LocalExecutor) or on the fleet
(TemporalExecutor), and is followed, cancelled and ended the same way either way.

`executor` is a user-only setting (user config, editor settings, flags): a repository
cannot send its runs to a fleet. The fleet's executor is made at the first run that goes
there; until then nothing of the fleet's client (nor temporalio) is imported.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MinionError
from ..runs.executor import EndHandler, EventHandler, Executor, LocalExecutor, on_fleet, pid_alive
from ..runs.model import RunRecord, Status
from ..runs.store import RunStore

if TYPE_CHECKING:
    from ..config import Settings
    from .config import FleetConfig

log = logging.getLogger("minion.fleet.executor")


class TemporalExecutor(Executor):
    """Runs go to the fleet; this process follows each until it ends and brings its branch
    and its record home (client.FleetRun), as `minion run --executor temporal` does."""

    def __init__(self, store: RunStore, *, on_event: EventHandler, on_end: EndHandler,
                 config: FleetConfig | None = None):
        super().__init__(store, on_event=on_event, on_end=on_end)
        self.config = config  # None: each run's own settings (and the environment)
        self.following: dict[str, asyncio.Task] = {}

    def submit(self, run_id: str) -> Status:
        self._follow(run_id, submit=True)
        return Status.QUEUED  # until a worker claims it

    def _follow(self, run_id: str, *, submit: bool) -> None:
        self.following[run_id] = asyncio.ensure_future(self._go(run_id, submit=submit))

    async def _go(self, run_id: str, *, submit: bool) -> None:
        from .client import FleetRun
        from .config import fleet_config

        try:
            record = await asyncio.to_thread(self.store.get, run_id)
            run = FleetRun(record, self.store, self.config or fleet_config(record.settings))
            await (run.submit() if submit else run.attach())
            await run.follow([lambda event: self.on_event(run_id, event)])
        except MinionError as e:  # a failed submit stored the run as failed, with the reason
            log.warning("run %s: %s", run_id, e)
            await self._not_left_active(run_id, str(e))
        except Exception as e:  # a bug here must not leave the run active forever
            log.exception("following fleet run %s failed", run_id)
            await self._not_left_active(run_id, f"minion's server lost track of the fleet run: {e}")
        finally:
            self.following.pop(run_id, None)
            await self.on_end(run_id)

    async def _not_left_active(self, run_id: str, reason: str) -> None:
        record = await asyncio.to_thread(self.store.get, run_id)
        if record.status.active:
            await asyncio.to_thread(self.store.update, run_id, status=Status.LOST, summary=reason.splitlines()[0],
                                    error=reason, worker_pid=None)

    async def cancel(self, run_id: str) -> Status | None:
        if run_id not in self.following:
            return None
        await asyncio.to_thread(self.store.request_cancel, run_id)  # its follower cancels the workflow
        return Status.RUNNING

    def active_ids(self) -> list[str]:
        return list(self.following)

    async def recover(self, records: list[RunRecord]) -> None:
        for record in records:
            if record.status.active and record.id not in self.following:
                self.watch(record.id)

    def watch(self, run_id: str) -> None:
        self._follow(run_id, submit=False)


class RunExecutor(Executor):
    """The language server's executor: a run whose settings say executor = "temporal" goes
    to the fleet, any other to the local executor. Runs something else executes (a CLI
    run, a fleet run another client follows) are watched through the store, as before."""

    def __init__(self, store: RunStore, *, limit: Callable[[], int], on_event: EventHandler, on_end: EndHandler):
        super().__init__(store, on_event=on_event, on_end=on_end)
        self.local = LocalExecutor(store, limit=limit, on_event=on_event, on_end=on_end)
        self.watched = self.local.watched  # the same set: the local executor watches them
        self.fleet: TemporalExecutor | None = None  # made at the first fleet run

    @staticmethod
    async def check(settings: Settings, repo: Path) -> None:
        """Before a run is created: if ``settings`` send it to the fleet, the fleet's server
        and remote must answer (else FleetUnavailable, and nothing is created)."""
        if settings.executor == "temporal":
            from .client import check_fleet
            from .config import fleet_config

            await check_fleet(fleet_config(settings), repo)

    def _fleet(self) -> TemporalExecutor:
        if self.fleet is None:
            self.fleet = TemporalExecutor(self.store, on_event=self.on_event, on_end=self.on_end)
        return self.fleet

    def submit(self, run_id: str, record: RunRecord | None = None) -> Status:
        """``record``: the run as created (its settings say where it goes); else read."""
        if on_fleet(record or self.store.get(run_id)):
            return self._fleet().submit(run_id)
        return self.local.submit(run_id)

    async def cancel(self, run_id: str) -> Status | None:
        if self.fleet is not None and run_id in self.fleet.following:
            return await self.fleet.cancel(run_id)
        return await self.local.cancel(run_id)

    def active_ids(self) -> list[str]:
        return [*self.local.active_ids(), *(self.fleet.active_ids() if self.fleet else [])]

    async def recover(self, records: list[RunRecord]) -> None:
        """As the local executor does; and a fleet run whose client went away (an earlier
        server, a closed terminal) is followed from here: its end and its branch come home."""
        orphans = [r for r in records if r.status.active and on_fleet(r) and not pid_alive(r.worker_pid)]
        for record in orphans:
            self._fleet().watch(record.id)
        await self.local.recover([r for r in records if r not in orphans])

    def followed_on_fleet(self) -> list[str]:
        return self.fleet.active_ids() if self.fleet else []

    def watch(self, run_id: str) -> None:
        self.local.watch(run_id)

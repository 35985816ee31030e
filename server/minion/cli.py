"""The `minion` command. Exit codes: 0 ok, 1 the run did not succeed, 2 bad input or setup."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax

from . import __version__, ui
from .agent.models import preload_sdk
from .engine.create import RunRequest, create_run, executed_here, prepare_resume, request_settings, revise_request
from .engine.execute import execute_run
from .errors import MinionError
from .runs.events import log_path, read_events
from .runs.executor import on_fleet, pid_alive
from .runs.model import RunRecord, Status, node_json, result_json
from .runs.store import RunStore
from .runs.warm import warm_for_next_run
from .snapshot import diff, diffstat, find_repo_root

if TYPE_CHECKING:
    from collections.abc import Callable

    from .fleet.config import FleetConfig

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _run_flags(args: argparse.Namespace) -> dict:
    return {
        "max_cost_usd": args.max_cost,
        "max_turns": args.max_turns,
        "max_wall_seconds": args.max_time,
        "max_input_tokens": args.max_tokens_in,
        "max_output_tokens": args.max_tokens_out,
        "sandbox": args.sandbox,
        "python": args.python,
    }


def run_and_report(request: RunRequest, *, as_json: bool, record_to: Path | None = None) -> RunRecord:
    """Create the run, execute it with live progress, print the result; returns the exit code."""
    store = RunStore()
    record = create_run(executed_here(request), store, prefetch_context=True)
    return execute_and_report(record, store, as_json=as_json, record_to=record_to)


def execute_and_report(
    record: RunRecord, store: RunStore, *, as_json: bool, record_to: Path | None = None
) -> RunRecord:
    """Execute a queued run with live progress, print the result and return the final record."""

    async def execute():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, store.request_cancel, record.id)
        with ui.ProgressView(err) as view:
            return await execute_run(record.id, store, listeners=[view.on_event], record_to=record_to)

    final = asyncio.run(execute())
    if as_json:
        print(json.dumps(result_json(final), indent=2))
    else:
        stat = diffstat(Path(final.repo), final.base, final.head) if final.head and final.files else ""
        ui.print_result(out, final, stat, str(log_path(final.id)))
    return final


def cmd_run(args: argparse.Namespace) -> int:
    request = RunRequest(task=args.task, repo=Path(args.repo), blueprint=args.blueprint, model=args.model,
                         flags={**_run_flags(args), "executor": args.executor})
    return _create_and_report(request, args)


def _create_and_report(request: RunRequest, args: argparse.Namespace, store: RunStore | None = None) -> int:
    """`minion run` and `minion revise`: create the run and execute it where its settings
    say. Here; or on the fleet (executor = "temporal"): created here (snapshot, store),
    executed by a `minion worker`, and its branch fetched back."""
    repo = find_repo_root(request.repo)
    settings = request_settings(request, repo)
    if settings.executor == "temporal":
        from .fleet.config import fleet_config

        if args.record:
            raise MinionError(RECORD_ON_FLEET)
        fleet_store = store or RunStore()  # a local run opens its own, once (run_and_report)
        return _on_fleet(lambda: create_run(request, fleet_store), fleet_store, fleet_config(settings), repo,
                         as_json=args.json)
    if not (args.model or "").startswith("scripted:"):
        preload_sdk()  # beside the snapshot, off the critical path
    final = run_and_report(request, as_json=args.json, record_to=args.record)
    warm_for_next_run(Path(final.repo))
    return final.status.exit_code


# --- the fleet (docs/fleet.md): opt-in, and nothing of it is imported for a local run ---

RECORD_ON_FLEET = "--record needs the model's turns, which stay on the worker: run locally (--executor local) to record"


def _on_fleet(start: Callable[[], RunRecord], store: RunStore, config: FleetConfig, repo: Path, *,
              as_json: bool) -> int:
    """Check the fleet, then ``start`` the run (create it, or queue it again), execute it
    there with live progress, and print its result."""
    from .fleet.client import check_fleet, run_on_fleet

    async def execute():
        client = await check_fleet(config, repo)  # before anything is created: the server and the remote answer
        record = await asyncio.to_thread(start)
        # Ctrl-C cancels the run, as for a local one: the worker commits and pushes the work so far.
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, store.request_cancel, record.id)
        with ui.ProgressView(err) as view:
            return await run_on_fleet(record, store, listeners=[view.on_event], config=config, client=client)

    return _report_fleet_run(asyncio.run(execute()), as_json=as_json)


def _report_fleet_run(final: RunRecord, *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result_json(final), indent=2))
    else:
        stat = diffstat(Path(final.repo), final.base, final.head) if final.base and final.head and final.files else ""
        ui.print_result(out, final, stat, str(log_path(final.id)))
    return final.status.exit_code


def cmd_fleet_dev(args: argparse.Namespace) -> int:
    from .fleet.dev import run_dev

    return run_dev(port=args.port, ui_port=args.ui_port, db=args.db, headless=args.headless,
                   say=lambda line: err.print(escape(line), soft_wrap=True))


def cmd_fleet_attach(args: argparse.Namespace) -> int:
    """Follow a fleet run submitted here whose client went away (it kept running on the
    fleet), until it ends; then bring its result home as `minion run` would have."""
    from .fleet.client import FleetRun
    from .fleet.config import fleet_config

    store = RunStore()
    record = store.get(args.id)
    if record.settings.executor != "temporal":
        raise MinionError(f"run {record.id} did not run on the fleet (its executor is {record.settings.executor})")

    async def follow():
        run = FleetRun(record, store, fleet_config(record.settings))
        await run.attach()
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, store.request_cancel, record.id)
        with ui.ProgressView(err) as view:
            return await run.follow([view.on_event])

    return _report_fleet_run(asyncio.run(follow()), as_json=args.json)


def cmd_worker(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .fleet.config import default_worker_name, fleet_config, require_temporalio

    require_temporalio()
    from .fleet.worker import main as worker_main

    settings = load_settings()  # the user config of the worker machine, never a repository's
    config = fleet_config(settings, task_queue=args.task_queue)
    config.need_remote()
    return worker_main(config, name=args.name or default_worker_name(),
                       max_runs=args.max_runs or settings.max_concurrent_runs)


def cmd_revise(args: argparse.Namespace) -> int:
    """A new round on a finished run's branch, with the feedback as its task."""
    store = RunStore()
    request = revise_request(store, args.id, args.feedback)
    # Where the revised run ran, unless told otherwise: a fleet run's next round goes to the fleet.
    executor = args.executor or ("temporal" if on_fleet(store.get(args.id)) else None)
    request = replace(request, flags={**_run_flags(args), "executor": executor}, model=args.model or request.model,
                      blueprint=args.blueprint or request.blueprint)
    return _create_and_report(request, args, store)


def cmd_resume(args: argparse.Namespace) -> int:
    store = RunStore()
    record = store.get(args.id)
    if on_fleet(record):  # where it ran: a worker continues from what came home of it
        from .fleet.config import fleet_config

        err.print(f"resuming run {record.id} on the fleet at its first unfinished node")
        return _on_fleet(lambda: prepare_resume(record.id, store, flags=_run_flags(args)), store,
                         fleet_config(record.settings), Path(record.repo), as_json=args.json)
    record = prepare_resume(record.id, store, flags=_run_flags(args))
    err.print(f"resuming run {record.id} at its first unfinished node")
    final = execute_and_report(record, store, as_json=args.json)
    warm_for_next_run(Path(final.repo))
    return final.status.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import prepare_demo

    demo = prepare_demo(args.model)
    err.print(f"[bold]minion demo[/] · sample repo at {escape(str(demo.repo))}")
    err.print(demo.model_note)
    request = RunRequest(task=demo.task, repo=demo.repo, model=demo.model, flags=_run_flags(args))
    final = run_and_report(request, as_json=args.json)
    if not args.json:
        if final.base and final.head:
            out.print(Syntax(diff(demo.repo, final.base, final.head), "diff", theme="ansi_dark"))
        out.print(f"\nReview it: [bold]git -C {escape(str(demo.repo))} diff main {escape(final.branch or '')}[/]")
    return final.status.exit_code


def _todo_on_fleet(store: RunStore):
    """How `minion todo` executes a run whose settings say executor = "temporal"."""

    async def execute(record: RunRecord, listener) -> RunRecord:
        from .fleet.client import run_on_fleet

        try:
            return await run_on_fleet(record, store, listeners=[listener])
        except MinionError:  # not submitted: stored as failed, with the reason
            return store.get(record.id)

    return execute


def cmd_todo(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .context import find_todos
    from .engine.batch import cancel_all, create_todo_runs, execute_all

    repo = find_repo_root(Path(args.repo))
    flags = {**_run_flags(args), "executor": args.executor}
    settings = load_settings(repo, flags={**flags, "model": args.model})
    todos = find_todos(repo, [Path(p).resolve() for p in args.paths] or None, settings.todo_patterns)
    if args.dry_run:
        if args.json:
            print(json.dumps([{"path": t.path, "line": t.line, "text": t.text} for t in todos], indent=2))
        else:
            for t in todos:
                out.print(f"{escape(t.path)}:{t.line}: {escape(t.text)}")
        return 0
    if not todos:
        err.print(f"no TODOs matching {', '.join(settings.todo_patterns)} in tracked files")
        return 0
    if settings.executor == "temporal":  # a fleet that does not answer is said before any run is created
        from .fleet.executor import RunExecutor

        asyncio.run(RunExecutor.check(settings, repo))
    store = RunStore()
    records = create_todo_runs(todos, repo, store, model=args.model, blueprint=args.blueprint, flags=flags)
    labels = {r.id: f"{t.path}:{t.line}" for r, t in zip(records, todos, strict=True)}

    async def execute():
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, cancel_all, records, store)
        with ui.BatchView(err, labels) as view:
            return await execute_all(records, store, max_parallel=args.max_parallel, listener=view.on_event,
                                     elsewhere=_todo_on_fleet(store))

    finals = asyncio.run(execute())
    if args.json:
        print(json.dumps([result_json(f) for f in finals], indent=2))
    else:
        print_runs(finals, show_repo=False)
    warm_for_next_run(repo)
    return max(f.status.exit_code for f in finals)


def cmd_list(args: argparse.Namespace) -> int:
    """This repository's runs (the one of the current folder, or --repo); --all: every one's."""
    from .errors import NotAGitRepository

    repo: Path | None = None
    if not args.all:
        try:
            repo = find_repo_root(Path(args.repo))
        except NotAGitRepository:
            if args.repo != ".":
                raise
            err.print("not in a git repository: the runs of every repository (as with --all)")
    records = RunStore().recent(limit=args.limit, repo=repo)
    if args.json:
        print(json.dumps([result_json(r) for r in records], indent=2))
    elif not records:
        err.print(f"no runs of {escape(str(repo))} yet (`minion list --all`: every repository's)" if repo
                  else "no runs yet: try `minion demo`")
    else:
        print_runs(records, show_repo=repo is None)
    return 0


def print_runs(records: list[RunRecord], *, show_repo: bool) -> None:
    """A table on a terminal, plain rows elsewhere; identifiers whole either way."""
    if out.is_terminal:
        ui.print_table(out, ui.runs_table(records, show_repo=show_repo))
    else:
        print(ui.runs_plain(records, show_repo=show_repo))


def cmd_show(args: argparse.Namespace) -> int:
    store = RunStore()
    record = store.get(args.id)
    if args.json:
        data = result_json(record)
        data["nodes"] = [node_json(n) for n in store.nodes(record.id)]
        print(json.dumps(data, indent=2))
        return 0
    out.print(f"[bold]{record.id}[/] {escape(record.task)}")
    out.print(f"[dim]{escape(record.repo)} · {record.blueprint} · {escape(record.model)} · "
              f"{ui.age(record.created_at)}[/]")
    out.print(ui.nodes_table(store.nodes(record.id)))
    stat = ""
    if record.base and record.head and record.files:
        stat = diffstat(Path(record.repo), record.base, record.head)
    ui.print_result(out, record, stat, str(log_path(record.id)))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    record = RunStore().get(args.id)
    for event in read_events(log_path(record.id)):
        if args.json:
            print(json.dumps(event))
            continue
        details = {k: v for k, v in event.items() if k not in ("ts", "run", "type")}
        shown = escape(json.dumps(details, ensure_ascii=False)[:300])
        out.print(f"[dim]{ui.local_time(event['ts'])}[/] [bold]{event['type']}[/] {shown}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    store = RunStore()
    record = store.get(args.id)
    if not record.status.active:
        err.print(f"run {record.id} already ended: {record.status.value}")
        return 0
    store.request_cancel(record.id)
    if not pid_alive(record.worker_pid):
        store.update(record.id, status=Status.CANCELLED, summary="cancelled before it started")
    err.print(f"cancel requested for run {record.id}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .lsp.server import serve

    serve()
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    from .runs.cleanup import clean

    report = clean(RunStore(), delete_branches=args.branch)
    for line in report:
        out.print(escape(line))
    return 0


def cmd_warm(args: argparse.Namespace) -> int:
    from .config import load_settings
    from .runs.warm import lower_priority, warm
    from .standby import spawn_standbys

    repo = find_repo_root(Path(args.repo))
    settings = load_settings(repo)
    if not args.map_only:  # before lowering the priority, which a standby's run would inherit
        spawn_standbys(settings.standby, wait=args.wait)
    lower_priority()
    for line in warm(repo, settings, pool=not args.map_only, wait=args.wait):
        out.print(escape(line))
    return 0


def cmd_sandbox_explain(args: argparse.Namespace) -> int:
    from .engine.create import preview_sandbox

    out.print(escape(preview_sandbox(Path(args.repo), flags={"sandbox": args.sandbox})), soft_wrap=True)
    return 0


def cmd_checks(args: argparse.Namespace) -> int:
    from .engine.create import preview_checks

    python, detection, configured = preview_checks(Path(args.repo), flags={"python": args.python})
    out.print(f"[bold]python[/]  {escape(python.interpreter)}  [dim]{escape(python.why)}[/]", soft_wrap=True)
    if configured is not None:
        out.print("[bold]checks[/]  from the checks setting" + ("" if configured else ": none"))
        for name, command in configured.items():
            out.print(f"  {escape(name)}: {escape(command)}", soft_wrap=True)
        return 0
    for check in detection.checks:
        out.print(f"[bold]check[/]   {escape(check.name)}: {escape(check.command)}  [dim]{escape(check.why)}[/]",
                  soft_wrap=True)
    if not detection.checks:
        out.print("[bold]checks[/]  none found: name them in the checks setting (.minion/config.toml)")
    for note in detection.passed_over:
        out.print(f"[dim]not run  {escape(note)}[/]", soft_wrap=True)
    return 0


def cmd_mcp_list(args: argparse.Namespace) -> int:
    """Each configured MCP server: where it runs, where it comes from, its tools (started to
    list them) and which of them runs may use."""
    from .config import load_settings
    from .engine.mcp_by_hand import list_servers
    from .mcp_servers.config import tool_name, user_mcp_path

    repo = find_repo_root(Path(args.repo))
    config, reports = asyncio.run(list_servers(repo, load_settings(repo)))
    for warning in config.warnings:
        err.print(f"[yellow]warning[/] {escape(warning)}", soft_wrap=True)
    if not reports:
        err.print(f"no MCP servers: none in {escape(str(user_mcp_path()))} or in a trusted "
                  f"{escape(str(repo / '.mcp.json'))}")
    for report in reports:
        server = report.server
        out.print(f"[bold]{escape(server.name)}[/]  {escape(server.where())}  [dim]from {escape(server.source)}[/]",
                  soft_wrap=True)
        if report.error:
            out.print(f"  [red]{escape(report.error)}[/]", soft_wrap=True)
        for tool in report.tools:
            allowed = "allowed" if server.allows(tool.name) else "-"
            line = tool.description.strip().splitlines()[0][:80] if tool.description.strip() else ""
            out.print(f"  {allowed:<8} {escape(tool_name(server.name, tool.name))}  [dim]{escape(line)}[/]",
                      soft_wrap=True)
    return 0


def cmd_mcp_call(args: argparse.Namespace) -> int:
    """One MCP tool call by hand, as a run would make it (in the sandbox, capped, redacted)."""
    from .config import load_settings
    from .engine.mcp_by_hand import call_by_hand

    try:
        arguments = json.loads(args.arguments)
    except json.JSONDecodeError as e:
        raise MinionError(f"the arguments are not JSON: {e}") from None
    if not isinstance(arguments, dict):
        raise MinionError('the arguments must be a JSON object, e.g. \'{"text": "hi"}\'')
    repo = find_repo_root(Path(args.repo))
    text, is_error = asyncio.run(call_by_hand(repo, load_settings(repo), args.server, args.tool, arguments))
    (err if is_error else out).print(escape(text), soft_wrap=True)
    return 1 if is_error else 0


def cmd_trust(args: argparse.Namespace) -> int:
    """Trust (or list, or revoke) a repo's ``.minion/blueprints`` files by their exact bytes.

    It asks nothing: running the command is the consent. What a file declares is knowable
    only by running it, so it shows what identifies each file: path, sha256 and size.
    """
    from . import trust

    repo = find_repo_root(Path(args.repo))
    if args.list:
        states = trust.repo_state(repo)
        if not states:
            err.print(f"no blueprint files in {escape(str(trust.repo_blueprint_dir(repo)))} and no .mcp.json")
        for s in states:
            if s.sha256 is None:
                label, detail = "gone", f"trusted {(s.trusted_sha256 or '')[:12]}, file removed"
            elif s.trusted:
                label, detail = "trusted", f"{s.sha256[:12]} {s.size} bytes"
            else:
                why = "changed since trusted" if s.trusted_sha256 else "never trusted"
                label, detail = "UNTRUSTED", f"{s.sha256[:12]} {s.size} bytes, {why}"
            out.print(f"{label:<9} {escape(str(s.path))}  {detail}", soft_wrap=True)
        return 0
    if args.revoke:
        revoked = trust.revoke_repo(repo)
        for path in revoked:
            out.print(f"revoked {escape(str(path))}", soft_wrap=True)
        if not revoked:
            err.print(f"nothing of {escape(str(repo))} was trusted")
        return 0
    files = trust.trust_repo(repo)
    if not files:
        err.print(f"no blueprint files in {escape(str(trust.repo_blueprint_dir(repo)))} and no .mcp.json: "
                  "nothing to trust")
        return 0
    for f in files:
        out.print(f"trusted {escape(str(f.path))}  sha256 {f.short} {f.size} bytes", soft_wrap=True)
    err.print("blueprint files run as you, outside the sandbox, on minion runs of this repository, and "
              ".mcp.json starts its servers (in the sandbox); a change to any of them needs `minion trust` again")
    return 0


def cmd_blueprints(args: argparse.Namespace) -> int:
    """The blueprints a run can name, where each comes from, and the repo files not yet
    trusted. Read from the files, never run (the rule of what a blueprint is: registry.py)."""
    from .blueprint.registry import Declaration, discover
    from .errors import NotAGitRepository

    try:
        repo: Path | None = find_repo_root(Path(args.repo))
    except NotAGitRepository:
        if args.repo != ".":
            raise
        repo = None
        err.print("not in a git repository: the built-in blueprints only")
    found = discover(repo)

    def where(path: Path) -> str:
        return str(path.relative_to(repo)) if repo is not None and path.is_relative_to(repo) else str(path)

    overridden = {d.name: d for d in found.overridden}
    if args.json:
        print(json.dumps({
            "repo": str(repo) if repo else None,
            "blueprints": [{"name": d.name, "description": d.description, "builtin": d.builtin,
                            "source": str(d.source), "line": d.line, "function": d.function,
                            "overrides": str(overridden[d.name].source) if d.name in overridden else None}
                           for d in found.blueprints],
            "untrusted": [{"path": str(f.path), "sha256": f.sha256, "declares": f.declares} for f in found.untrusted],
            "problems": found.problems,
        }, indent=2))
        return 2 if found.problems else 0
    def origin(d: Declaration) -> str:
        return "built-in" if d.builtin else f"{where(d.source)}:{d.line}"

    def overrides(d: Declaration) -> str:
        if d.name not in overridden:
            return ""
        hidden = overridden[d.name]
        return " (overrides the built-in)" if hidden.builtin else f" (overrides {origin(hidden)})"

    rows = [(d.name, origin(d), d.description + overrides(d)) for d in found.blueprints]
    name_width = max((len(r[0]) for r in rows), default=0)
    from_width = max((len(r[1]) for r in rows), default=0)
    for name, source, description in rows:
        out.print(f"[bold]{escape(name.ljust(name_width))}[/]  {escape(source.ljust(from_width))}  "
                  f"{escape(description)}", soft_wrap=True)
    if found.untrusted:
        out.print(f"\nnot trusted (no run of this repository starts until they are; read them, then "
                  f"`minion trust --repo {escape(str(repo))}`):", soft_wrap=True)
        for f in found.untrusted:
            declares = ", ".join(f.declares) or "no blueprint"
            out.print(f"  {escape(where(f.path))}  sha256 {f.sha256[:12]}…  declares {escape(declares)}",
                      soft_wrap=True)
    for problem in found.problems:
        out.print(f"[bold red]problem[/] {escape(problem)}", soft_wrap=True)
    return 2 if found.problems else 0


def cmd_eval(args: argparse.Namespace) -> int:
    """Run a suite for each variant (blueprint × model) and compare them (docs/eval.md)."""
    from .eval import Plan, default_models, load_suite, print_summary, run_eval, suite_folder, variants_of

    suite = suite_folder(args.suite)  # `builtin`: the built-in suite
    models, model_note = default_models(suite, args.model)
    if model_note:
        err.print(escape(model_note))
    out_dir = Path(args.out).resolve() if args.out else Path.cwd() / "minion-eval" / suite.name
    plan = Plan(suite=suite, tasks=load_suite(suite), variants=variants_of(args.blueprint, models),
                repeat=args.repeat, out=out_dir, max_parallel=args.max_parallel)
    err.print(f"eval of {len(plan.tasks)} tasks × {len(plan.variants)} variants × {plan.repeat}: "
              f"results in {escape(str(out_dir))}")

    def progress(result: dict) -> None:
        err.print(f"{escape(result['task'])} · {escape(result['variant'])} #{result['repeat']}: "
                  f"{result['outcome']} ({result['status'] or escape(result['error'] or '')})")

    summary = run_eval(plan, resume=args.resume, on_result=progress)
    if args.html:
        from .eval.html import write_html

        err.print(f"report: {escape(str(write_html(summary, Path(args.html), RunStore())))}")
    if args.format == "swebench":
        from .eval.report import swebench_predictions

        for prediction in swebench_predictions(summary):
            print(json.dumps(prediction))
    elif args.json or args.format == "json":
        print(json.dumps(summary, indent=2))
    else:
        print_summary(out, summary)
    return 130 if summary["interrupted"] else 0


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="minion", description="Delegate coding tasks to a sandboxed agent.")
    parser.add_argument("--version", action="version", version=f"minion {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_executor_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--executor", choices=["local", "temporal"],
                       help="where the runs execute: this machine, or the fleet (default from config: local)")

    def with_run_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-cost", type=float, metavar="USD", help="stop the run at this cost")
        p.add_argument("--max-turns", type=int, help="stop after this many model turns")
        p.add_argument("--max-time", type=float, metavar="SECONDS", help="wall-clock cap for the run")
        p.add_argument("--max-tokens-in", type=int, metavar="N", help="stop before the run's input tokens pass N")
        p.add_argument("--max-tokens-out", type=int, metavar="N", help="stop before the run's output tokens pass N")
        p.add_argument("--sandbox", choices=["bwrap", "none"], help="override the sandbox setting")
        p.add_argument("--python", metavar="PATH", help="the project's Python interpreter or virtualenv")
        p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")

    p = sub.add_parser("serve", help="start the language server on stdio (for editors)")
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("run", help="run a task to the end and print the result")
    p.add_argument("task", help="what minion should do")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--blueprint", help="blueprint name (default from config: default)")
    p.add_argument("--model", help="anthropic:<model-id> or scripted:<file.json>")
    p.add_argument("--record", type=Path, metavar="FILE", help="write the model's turns as a scripted-model file")
    with_executor_option(p)
    with_run_options(p)
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("revise", help="send a finished run back with feedback: a new round on its branch")
    p.add_argument("id", help="the run to revise (see `minion list`)")
    p.add_argument("feedback", help="what to change in the run's work")
    p.add_argument("--blueprint", help="blueprint name (default: the revised run's)")
    p.add_argument("--model", help="anthropic:<model-id> or scripted:<file.json> (default: the revised run's)")
    p.add_argument("--record", type=Path, metavar="FILE", help="write the model's turns as a scripted-model file")
    with_executor_option(p)
    with_run_options(p)
    p.set_defaults(fn=cmd_revise)

    p = sub.add_parser("resume", help="continue an interrupted, cancelled, capped, stuck or lost run where it stopped")
    p.add_argument("id")
    with_run_options(p)
    p.set_defaults(fn=cmd_resume)

    p = sub.add_parser("demo", help="run the offline demo (Claude when ANTHROPIC_API_KEY is set)")
    p.add_argument("--model", help="anthropic:<model-id> to run the demo with Claude")
    with_run_options(p)
    p.set_defaults(fn=cmd_demo)

    p = sub.add_parser("todo", help="hand off every TODO(minion) comment: one run and branch each")
    p.add_argument("paths", nargs="*", help="files or folders to search (default: the whole repo)")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--dry-run", action="store_true", help="only list the TODOs")
    p.add_argument("--max-parallel", type=positive_int, default=2, metavar="N", help="runs at once (default 2)")
    p.add_argument("--blueprint", help="blueprint name (default: todo)")
    p.add_argument("--model", help="anthropic:<model-id> or scripted:<file.json>")
    with_executor_option(p)
    with_run_options(p)
    p.set_defaults(fn=cmd_todo)

    p = sub.add_parser("list", help="list this repository's recent runs (--all: every repository's)")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--all", action="store_true", help="the runs of every repository, with a repo column")
    p.add_argument("--limit", type=int, default=30)
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_list)

    p = sub.add_parser("show", help="show one run: nodes, checks, usage")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_show)

    p = sub.add_parser("logs", help="print a run's event log")
    p.add_argument("id")
    p.add_argument("--json", action="store_true", help="raw JSON lines")
    p.set_defaults(fn=cmd_logs)

    p = sub.add_parser("cancel", help="cancel a running run (its work so far is kept on its branch)")
    p.add_argument("id")
    p.set_defaults(fn=cmd_cancel)

    p = sub.add_parser("sandbox", help="inspect the sandbox runs get")
    sandbox_sub = p.add_subparsers(dest="sandbox_command", required=True, metavar="SUBCOMMAND")
    p = sandbox_sub.add_parser("explain", help="print what a run of this repository would see: every mount and why")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--sandbox", choices=["bwrap", "none"], help="override the sandbox setting")
    p.set_defaults(fn=cmd_sandbox_explain)

    p = sub.add_parser("checks", help="print the checks a run of this repository would run, and why")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--python", metavar="PATH", help="the project's Python interpreter or virtualenv")
    p.set_defaults(fn=cmd_checks)

    p = sub.add_parser("mcp", help="the MCP servers whose tools runs may use (docs/mcp.md)")
    mcp_sub = p.add_subparsers(dest="mcp_command", required=True, metavar="SUBCOMMAND")
    p = mcp_sub.add_parser("list", help="each server: where it runs, where it comes from, its tools and which "
                                        "runs may use")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.set_defaults(fn=cmd_mcp_list)
    p = mcp_sub.add_parser("call", help="call one tool by hand, as a run would (in the sandbox, capped, redacted)")
    p.add_argument("server")
    p.add_argument("tool", help="the server's name for the tool (not mcp__…)")
    p.add_argument("arguments", nargs="?", default="{}", help="a JSON object (default: {})")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.set_defaults(fn=cmd_mcp_call)

    p = sub.add_parser("trust",
                       help="allow this repository's .minion/blueprints files and .mcp.json, exactly as they are now, "
                            "to run")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--list", action="store_true", help="show whether each blueprint file is trusted")
    action.add_argument("--revoke", action="store_true", help="forget the trust of this repository's blueprint files")
    p.set_defaults(fn=cmd_trust)

    p = sub.add_parser("blueprints", help="list the blueprints a run can use, where each comes from, "
                                          "and this repository's blueprint files not yet trusted")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--json", action="store_true", help="print the list as JSON")
    p.set_defaults(fn=cmd_blueprints)

    p = sub.add_parser("clean", help="remove finished runs' worktrees (branches are kept)")
    p.add_argument("--branch", action="append", default=[], metavar="NAME", help="also delete this minion/* branch")
    p.set_defaults(fn=cmd_clean)

    p = sub.add_parser("fleet", help="the fleet of workers runs can execute on (docs/fleet.md)")
    fleet_sub = p.add_subparsers(dest="fleet_command", required=True, metavar="SUBCOMMAND")
    p = fleet_sub.add_parser("dev", help="start a local Temporal dev server (loopback, database in minion's state dir)")
    p.add_argument("--port", type=positive_int, default=7233, help="its gRPC port (default 7233)")
    p.add_argument("--ui-port", type=positive_int, help="its web UI's port (default: the port + 1000)")
    p.add_argument("--db", type=Path, metavar="FILE", help="its SQLite database (default: in minion's state dir)")
    p.add_argument("--headless", action="store_true", help="no web UI")
    p.set_defaults(fn=cmd_fleet_dev)

    p = fleet_sub.add_parser("attach", help="follow a fleet run whose client went away, and bring its result home")
    p.add_argument("id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_fleet_attach)

    p = sub.add_parser("worker", help="be a worker of the fleet: poll the task queue and execute runs")
    p.add_argument("--task-queue", metavar="NAME", help="the shared task queue (default from config: minion)")
    p.add_argument("--name", help="this worker's name (default: host-pid)")
    p.add_argument("--max-runs", type=positive_int, metavar="N",
                   help="runs at once (default from config: max_concurrent_runs)")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("warm",
                       help="get ready for fast runs: a standby process, the repository's worktree pool and repo map")
    p.add_argument("--repo", default=".", help="the repository (default: the current folder)")
    p.add_argument("--map-only", action="store_true", help="only the repo map, not the standby or the worktree pool")
    p.add_argument("--wait", action="store_true", help="wait for a warm-up already at work, then do this one")
    p.set_defaults(fn=cmd_warm)

    p = sub.add_parser("eval", help="run a task suite for each blueprint × model and compare them (docs/eval.md)")
    p.add_argument("suite", help="the suite folder: SUITE/<task>/task.toml; `builtin`: the built-in suite "
                   "(its tasks' shipped scripted models offline, Claude when ANTHROPIC_API_KEY is set)")
    p.add_argument("--blueprint", action="append", default=[], metavar="NAME",
                   help="a variant's blueprint (repeatable)")
    p.add_argument("--model", action="append", default=[], metavar="SPEC",
                   help="a variant's model (repeatable; {task} is the task's folder)")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="N", help="runs per task and variant")
    p.add_argument("--max-parallel", type=positive_int, default=1, metavar="N", help="runs at once")
    p.add_argument("--out", metavar="DIR", help="where results go (default: ./minion-eval/<suite>)")
    p.add_argument("--resume", action="store_true", help="finish the eval in --out: skip the trials done")
    p.add_argument("--json", action="store_true", help="print the whole result as JSON (--format json)")
    p.add_argument("--format", choices=["table", "json", "swebench"], default="table",
                   help="swebench: SWE-bench's predictions JSONL, for the tasks with an instance_id")
    p.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report")
    p.set_defaults(fn=cmd_eval)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except MinionError as e:
        err.print(f"[bold red]minion:[/] {escape(str(e))}", soft_wrap=True)  # a fix command stays on one line
        if getattr(args, "json", False):  # a script reading stdout gets an answer too
            print(json.dumps({"error": str(e), "exit_code": e.exit_code}))
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `minion list --json | head`: the reader has what it wanted
        sys.stdout = None  # nothing more to flush at exit
        return 0


if __name__ == "__main__":
    sys.exit(main())

from minion.blueprint import Run, blueprint


@blueprint("default", "Implement the task, run the checks, repair at most twice, commit")
async def default(run: Run) -> None:
    await run.gather_context()
    await run.agent("implement", run.task_prompt())
    await run.check_and_repair()
    await run.commit()

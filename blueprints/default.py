from minion.blueprint import blueprint


@blueprint("default", "Implement the task, run the checks, repair at most twice, commit")
async def default(run):
    await run.gather_context()
    await run.agent("implement", run.task_prompt())
    failed = await run.failing_checks()
    for attempt in range(1, run.settings.repair_rounds + 1):
        if not failed:
            break
        await run.agent(f"repair {attempt}", run.repair_prompt(failed))
        failed = await run.failing_checks()
    await run.commit()

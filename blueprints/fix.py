from minion.blueprint import blueprint


@blueprint("fix", "Make the failing checks pass: run them first, then repair until green")
async def fix(run):
    await run.gather_context()
    failed = await run.failing_checks(baseline=False)  # the failures to fix are there before the run
    for attempt in range(1, run.settings.repair_rounds + 2):
        if not failed:
            break
        prompt = run.task_prompt() + "\n\n" + run.repair_prompt(failed)
        await run.agent(f"fix {attempt}", prompt)
        failed = await run.failing_checks(baseline=False)
    await run.commit()

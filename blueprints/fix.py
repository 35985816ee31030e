from minion.blueprint import Run, blueprint


@blueprint("fix", "Make the failing checks pass: run them first, then repair until green")
async def fix(run: Run) -> None:
    await run.gather_context()
    # The failures to fix are there before the run: judged without the baseline, and the
    # first round is the fix itself, so it gets one round more than a repair loop.
    await run.check_and_repair(rounds=run.settings.repair_rounds + 1, prompt=run.task_prompt(), name="fix",
                               baseline=False)
    await run.commit()

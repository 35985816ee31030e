"""Runs on a fleet of workers behind a Temporal server (docs/fleet.md).

Opt-in: a local run imports nothing of this package (tests/fleet/test_optional.py). Only
`workflow` and `worker` import ``temporalio`` at module level; `client` imports it when it
connects. `engine` and `checkpoint` run in the worker's engine process, without it.

    config      the fleet settings (user config or environment, never a repository)
    spec        what travels through Temporal: ids, refs, the run's request
    transport   git between the client, the fleet remote and the workers
    client      submit, follow (progress, cancel), bring the result home
    workflow    the run workflow: claim a worker, execute on its own task queue
    worker      `minion worker`: the claim and execute activities
    engine      the engine's process on a worker, with a checkpoint at each node boundary and turn
    checkpoint  writing and restoring those checkpoints
    dev         `minion fleet dev`: Temporal's dev server
"""

"""The `minion` command. Commands that talk to the model go to a waiting standby when there is
one (standby.py: no second of imports first); everything else runs here."""

import sys


def main() -> int:
    argv = sys.argv[1:]
    from minion.standby import COMMANDS, hand_over

    if argv and argv[0] in COMMANDS and (code := hand_over(argv)) is not None:
        return code
    return _run_here(argv)


def standby(marker: str) -> None:
    """A standby process's main (standby.spawn_standbys starts it): the imports a model
    command needs, then one command handed over."""
    import anthropic  # the slow one: what a standby is for
    import numpy  # noqa: F401  (the repo map's ranking: 0.1 s)
    import rich.syntax  # noqa: F401

    anthropic.AsyncAnthropic(api_key="standby")  # a first client imports its transport (0.1 s)

    from minion import ui  # noqa: F401
    from minion.engine import create, execute  # noqa: F401
    from minion.runs import warm  # noqa: F401
    from minion.standby import serve

    serve(marker, _run_here)


def _run_here(argv: list[str]) -> int:
    from minion.cli import main as run  # late: its consoles must see the terminal it runs on

    return run(argv)

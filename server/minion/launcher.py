"""The `minion` command. Commands that talk to the model go to a waiting standby when there is
one (standby.py: no second of imports first); everything else runs here."""

import sys


def main() -> int:
    argv = sys.argv[1:]
    from minion.standby import COMMANDS, hand_over

    if argv and argv[0] in COMMANDS and (code := hand_over(argv)) is not None:
        return code
    from minion.cli import main as run_here

    return run_here(argv)

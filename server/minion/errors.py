"""Errors that reach the user. Anything else is a bug and shows a traceback."""


class MinionError(Exception):
    """Bad input or configuration. The CLI prints the message and exits 2."""

    exit_code = 2


class NotAGitRepository(MinionError):
    pass


class SandboxUnavailable(MinionError):
    pass


class ConfigError(MinionError):
    pass


class RunNotFound(MinionError):
    pass


class StateUnwritable(MinionError):
    """minion's state dir (run store, logs, worktrees) cannot be written: a full disk, a
    read-only or vanished folder. Nothing is half-written; free space and run again."""


class UntrustedBlueprint(MinionError):
    """A repo's ``.minion/blueprints`` holds a file whose exact bytes the user has not trusted
    (``minion trust``): minion runs nothing of that repo until they do. Exit code 2."""

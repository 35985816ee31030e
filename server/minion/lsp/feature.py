"""A feature of the language server: one concern, its own state, its own handlers
(esbonio's pattern). server.py keeps the lifecycle and the configuration, and wires the
features; each feature marks the methods that handle an LSP method (``@handles``) or a
command (``@command``), and ``MinionServer.add_feature`` registers them.

Commands share one way to fail: a ``MinionError`` (the user's mistake: no TODO there, a
bad setting, no bubblewrap) is shown as a message and answered as an ``InvalidParams``
error naming the fix. A command returns a wire model (wire.py), sent as its JSON.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pydantic import ValidationError
from pygls.exceptions import JsonRpcInvalidParams

from ..errors import MinionError
from .wire import Command, Wire
from .wording import editor_wording

W = TypeVar("W", bound=Wire)

if TYPE_CHECKING:
    from .server import MinionServer

H = TypeVar("H", bound=Callable[..., Any])
CommandResult = Wire | Sequence[Wire]

_HANDLES = "_minion_handles"  # (LSP method, its options)
_COMMAND = "_minion_command"  # the command's name


def handles(method: str, options: Any = None) -> Callable[[H], H]:
    """Mark a feature's method as the handler of an LSP request or notification."""

    def mark(handler: H) -> H:
        setattr(handler, _HANDLES, (method, options))
        return handler

    return mark


def command(name: Command) -> Callable[[H], H]:
    """Mark a feature's coroutine method as the handler of a command; it gets the command's
    arguments unpacked and returns a wire model (or a list of them)."""

    def mark(handler: H) -> H:
        setattr(handler, _COMMAND, name)
        return handler

    return mark


def handler(method: Callable[..., Any]) -> Callable[..., Any]:
    """A bound method as pygls takes a handler: a function of its own (pygls marks it), which
    pygls calls with the params alone (its first parameter is not named `ls`)."""
    if inspect.iscoroutinefunction(method):

        async def call_async(*args: Any) -> Any:
            return await method(*args)

        return call_async

    def call(*args: Any) -> Any:
        return method(*args)

    return call


class Feature:
    def __init__(self, ls: MinionServer) -> None:
        self.ls = ls

    async def initialized(self) -> None:
        """Once the client said `initialized` and the configuration is fetched; the features'
        hooks run one after the other, in the order they were added."""

    def register(self) -> None:
        """Register the marked methods with the server (MinionServer.add_feature calls it)."""
        for name, member in inspect.getmembers_static(type(self)):
            if hasattr(member, _HANDLES):
                method, options = getattr(member, _HANDLES)
                self.ls.feature(method, options)(handler(getattr(self, name)))
            if hasattr(member, _COMMAND):
                self.ls.command(str(getattr(member, _COMMAND)))(self._answered(getattr(self, name)))

    def _answered(self, handler: Callable[..., Awaitable[CommandResult]]) -> Callable[..., Awaitable[Any]]:
        """The command as pygls calls it: its result as JSON, a user error as a message and
        an InvalidParams error."""

        async def run(*args: Any) -> Any:
            try:
                result = await handler(*args)
            except MinionError as e:
                said = editor_wording(str(e))
                self.ls.message(f"minion: {said}", types.MessageType.Error)
                raise JsonRpcInvalidParams(said) from None
            return result.dump() if isinstance(result, Wire) else [item.dump() for item in result]

        return run

    @staticmethod
    def argument(name: Command, model: type[W], args: Sequence[Any], positional: Sequence[str] = ()) -> W:
        """A command's one object argument as its wire model; the older positional form
        (``[runId, ...]``, named by ``positional``) is read too. No argument: the model's
        defaults."""
        if args and isinstance(args[0], dict):
            data: dict[str, Any] = args[0]
        else:
            data = {key: value for key, value in zip(positional, args, strict=False)}
        try:
            return model.model_validate(data)
        except ValidationError as e:
            fields = ", ".join(f.alias or n for n, f in model.model_fields.items())
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'argument'}: {err['msg']}" for err in e.errors())
            raise MinionError(f"{name} takes one object {{{fields}}}: {problems}") from None

    async def full_id(self, run_id: object) -> str:
        """A run id, possibly abbreviated, as stored (raises RunNotFound, a MinionError)."""
        if not isinstance(run_id, str) or not run_id:
            raise MinionError(f"not a run id: {run_id!r}")
        record = await asyncio.to_thread(self.ls.store.get, run_id)
        return record.id

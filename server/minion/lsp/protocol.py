"""The JSON-RPC protocol, made to answer requests it cannot read.

pygls drops a request whose params do not deserialize and only shows "Error in server" to
the user, and runs a notification's method sent with an id without ever answering it; the
client then waits forever. minion answers such requests with a JSON-RPC error instead, and
drops bad notifications with a log line.

It also completes the initialize result with minion's own part, which pygls has no place
for: ``capabilities.experimental.minion`` (wire.MinionCapabilities).
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, cast

from lsprotocol import types
from lsprotocol.types import ErrorCodes, ResponseError
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.protocol.language_server import LanguageServerProtocol, lsp_method

if TYPE_CHECKING:
    from .server import MinionServer

log = logging.getLogger("minion.lsp")

# handle_message ignores unknown "$/" notifications: the unreadable message becomes one.
_DROPPED = "$/minion/unreadableMessage"


class MinionProtocol(LanguageServerProtocol):
    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        result = yield from super().lsp_initialize(params)  # the server's own handler runs in there
        result.capabilities.experimental = cast("MinionServer", self._server).experimental_capabilities()
        return result

    def structure_message(self, data: dict[str, Any]):
        is_request = "method" in data and isinstance(data.get("id"), (int, str))
        method = data.get("method") if isinstance(data.get("method"), str) else "?"
        try:
            message = super().structure_message(data)
        except Exception as error:
            return self._drop(data, is_request, ErrorCodes.InvalidParams,
                              f"cannot read the params of {method}: {error.__cause__ or error}")
        if is_request and not hasattr(message, "id"):
            # A notification's method sent with an id: pygls would run it and never answer.
            return self._drop(data, is_request, ErrorCodes.InvalidRequest,
                              f"{method} is a notification: it must not carry an id")
        return message

    def _drop(self, data: dict[str, Any], is_request: bool, code: ErrorCodes, reason: str) -> JsonRPCNotification:
        if is_request:
            self._send_response(data["id"], error=ResponseError(code=code, message=reason))
        else:
            log.warning("dropped an unreadable message: %s", reason)
        return JsonRPCNotification(method=_DROPPED, params=None, jsonrpc="2.0")

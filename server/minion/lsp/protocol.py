"""The JSON-RPC protocol, made to answer requests it cannot read.

pygls drops a request whose params do not deserialize and only shows "Error in server" to
the user; the client then waits forever for its answer. minion answers such a request with
a JSON-RPC "invalid params" error instead, and drops bad notifications with a log line.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol.types import ErrorCodes, ResponseError
from pygls.protocol.language_server import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification

log = logging.getLogger("minion.lsp")

# handle_message ignores unknown "$/" notifications: the unreadable message becomes one.
_DROPPED = "$/minion/unreadableMessage"


class MinionProtocol(LanguageServerProtocol):
    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except Exception as error:
            method = data.get("method") if isinstance(data.get("method"), str) else "?"
            message = f"cannot read the params of {method}: {error.__cause__ or error}"
            if "id" in data and "method" in data and isinstance(data["id"], (int, str)):
                self._send_response(data["id"], error=ResponseError(code=ErrorCodes.InvalidParams, message=message))
            else:
                log.warning("dropped an unreadable message: %s", message)
            return JsonRPCNotification(method=_DROPPED, params=None, jsonrpc="2.0")

"""What the client advertised, read once at initialize. Every feature asks here first and
degrades when the answer is no (Neovim 0.7 and eglot advertise little)."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types
from pygls.capabilities import get_capability


@dataclass(frozen=True)
class ClientSupport:
    progress: bool = False  # window/workDoneProgress/create + $/progress
    show_document: bool = False
    configuration: bool = False  # workspace/configuration
    apply_edit: bool = False
    document_changes: bool = False  # versioned TextDocumentEdits
    create_files: bool = False
    delete_files: bool = False
    code_action_literals: bool = False  # else code actions are plain Commands
    resolve_edit: bool = False  # codeAction/resolve may fill in `edit`
    llm_tag: bool = False  # CodeActionTag.LLMGenerated
    code_description: bool = False  # Diagnostic.codeDescription.href
    lens_refresh: bool = False  # workspace/codeLens/refresh

    @classmethod
    def of(cls, caps: types.ClientCapabilities) -> ClientSupport:
        def has(field: str) -> bool:
            return bool(get_capability(caps, field, False))

        document_changes = has("workspace.workspace_edit.document_changes")
        resource_ops = get_capability(caps, "workspace.workspace_edit.resource_operations", []) or []
        resolvable = get_capability(caps, "text_document.code_action.resolve_support.properties", []) or []
        tags = get_capability(caps, "text_document.code_action.tag_support.value_set", []) or []
        return cls(
            progress=has("window.work_done_progress"),
            show_document=has("window.show_document.support"),
            configuration=has("workspace.configuration"),
            apply_edit=has("workspace.apply_edit"),
            document_changes=document_changes,
            create_files=document_changes and types.ResourceOperationKind.Create in resource_ops,
            delete_files=document_changes and types.ResourceOperationKind.Delete in resource_ops,
            code_action_literals=has("text_document.code_action.code_action_literal_support"),
            resolve_edit="edit" in resolvable,
            llm_tag=types.CodeActionTag.LlmGenerated in tags,
            code_description=has("text_document.publish_diagnostics.code_description_support"),
            lens_refresh=has("workspace.code_lens.refresh_support"),
        )

"""Tools from MCP servers for the agent (docs/mcp.md): configured in the `mcpServers` shape of
`.mcp.json`, started for a run that allows some of their tools, offered to the model as
`mcp__<server>__<tool>`, deny by default. The `mcp` SDK is an optional extra: nothing here
imports it until a run has a server to start."""

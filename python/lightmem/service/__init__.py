"""lightmem as a service: `lightmem serve` (an HTTP API with mem0's routes, extra `[server]`) and
`lightmem mcp` (an MCP server, extra `[mcp]`). Nothing here is imported by `import lightmem`."""

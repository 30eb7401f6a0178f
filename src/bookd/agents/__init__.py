"""The MCP server: bookd's actions as tools for AI agents, over streamable HTTP and stdio."""

/** The persona-mcp version, reported by `--version`, `system.status`, MCP and bundles. Keep in step with package.json. */
export const SERVER_VERSION = '0.1.0';

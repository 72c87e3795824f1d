// The histogram lives with the `persona-mcp load` tool, which ships with the server; the bench shares it.
export * from '../../src/load/histogram.js';

/**
 * Renders docs/API.md from the method registry and the error table, so the reference can never
 * drift from the code (a test compares the checked-in file with a fresh rendering).
 */
import { describeAccess } from './access.js';
import { APPLICATION_ERRORS, INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR } from './error-codes.js';
import { paramsJsonSchema, resultJsonSchema, type JsonSchema } from './openrpc.js';
import type { MethodDefinition, MethodRegistry } from './registry.js';

export function renderApiReference(registry: MethodRegistry): string {
  const methods = registry.list().slice().sort((a, b) => a.name.localeCompare(b.name));
  const lines: string[] = [
    '# persona-mcp API reference',
    '',
    '<!-- Generated from the method registry by `npm run docs:api`; do not edit by hand. -->',
    '',
    'JSON-RPC 2.0 over WebSocket at `ws://127.0.0.1:8000/mcp` (one message or batch per text frame). Params are',
    'by name. Unknown params are ignored. Every method marked **MCP tool** is also served as an MCP tool with',
    'the same input and output schemas. `rpc.discover` returns the same information as an OpenRPC document.',
    '',
    '| method | summary | MCP tool |',
    '|---|---|---|',
    ...methods.map((method) => `| [\`${method.name}\`](#${anchor(method.name)}) | ${escapeCell(method.summary)} | ${method.exposeAsTool === false ? '—' : 'yes'} |`),
    '',
  ];
  for (const method of methods) lines.push(...renderMethod(method));
  lines.push(...renderErrors());
  return `${lines.join('\n')}\n`;
}

function renderMethod(method: MethodDefinition): string[] {
  const params = paramsJsonSchema(method);
  const properties = (params.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((params.required as string[] | undefined) ?? []);
  const lines = [`## ${method.name}`, '', method.summary, ''];
  if (method.deprecated) lines.push(`> **Legacy.** ${method.deprecated}`, '');
  if (method.description) lines.push(method.description, '');
  const hints = Object.entries(method.hints ?? {})
    .filter(([, value]) => value === true)
    .map(([name]) => name);
  if (hints.length > 0) lines.push(`Hints: ${hints.join(', ')}.`, '');
  lines.push(`Access: ${describeAccess(method.requires)} ([security.md](security.md#who-may-do-what-the-ownership-model)).`, '');
  if (Object.keys(properties).length === 0) {
    lines.push('Params: none.', '');
  } else {
    lines.push('| param | type | required | description |', '|---|---|---|---|');
    for (const [name, schema] of Object.entries(properties)) {
      lines.push(`| \`${name}\` | ${escapeCell(describeType(schema))} | ${required.has(name) ? 'yes' : 'no'} | ${escapeCell(describeParam(schema))} |`);
    }
    lines.push('');
  }
  lines.push('<details><summary>Result schema</summary>', '', '```json', JSON.stringify(stripMeta(resultJsonSchema(method)), null, 2), '```', '', '</details>', '');
  return lines;
}

function renderErrors(): string[] {
  const lines = [
    '## Errors',
    '',
    'Errors carry `code`, `message` (what happened and what to do) and, for application errors, `data.kind` and',
    '`data.hint`. Standard codes:',
    '',
    '| code | meaning |',
    '|---|---|',
    `| ${PARSE_ERROR} | The frame is not valid JSON (\`id\` is null). |`,
    `| ${INVALID_REQUEST} | Not a valid JSON-RPC request (also: an empty batch, a batch over the size limit). |`,
    `| ${METHOD_NOT_FOUND} | No such method; \`rpc.discover\` lists them. |`,
    `| ${INVALID_PARAMS} | Params missing or of the wrong type; the message names the field. |`,
    `| ${INTERNAL_ERROR} | A server bug; logged with a stack trace, never sent to the client. |`,
    '',
    'Application codes:',
    '',
    '| code | kind | meaning | what to do |',
    '|---|---|---|---|',
  ];
  for (const [kind, info] of Object.entries(APPLICATION_ERRORS)) {
    lines.push(`| ${info.code} | \`${kind}\` | ${escapeCell(info.meaning)} | ${escapeCell(info.whatToDo)} |`);
  }
  lines.push('');
  return lines;
}

function describeType(schema: JsonSchema): string {
  if (Array.isArray(schema.anyOf)) return (schema.anyOf as JsonSchema[]).map(describeType).join(' or ');
  if (schema.enum) return (schema.enum as unknown[]).map((value) => JSON.stringify(value)).join(' | ');
  if (schema.type === 'array') return `${describeType((schema.items ?? {}) as JsonSchema)}[]`;
  if (schema.type === 'object' && schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    return `{ string: ${describeType(schema.additionalProperties as JsonSchema)} }`;
  }
  if (schema.type === 'integer' || schema.type === 'number') {
    // zod's int() bounds every integer by ±MAX_SAFE_INTEGER; that says nothing to a reader.
    const meaningful = (value: unknown): value is number => typeof value === 'number' && Math.abs(value) < Number.MAX_SAFE_INTEGER;
    const low = meaningful(schema.minimum) ? String(schema.minimum) : meaningful(schema.exclusiveMinimum) ? `>${schema.exclusiveMinimum}` : '';
    const high = meaningful(schema.maximum) ? String(schema.maximum) : '';
    return low || high ? `${String(schema.type)} (${low}..${high})` : String(schema.type);
  }
  return typeof schema.type === 'string' ? schema.type : 'any';
}

function describeParam(schema: JsonSchema): string {
  const parts: string[] = [];
  if (typeof schema.description === 'string') parts.push(schema.description);
  if (schema.default !== undefined) parts.push(`Default ${JSON.stringify(schema.default)}.`);
  return parts.join(' ');
}

/** `$schema` adds noise to every block of the reference. */
function stripMeta(schema: JsonSchema): JsonSchema {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}

function anchor(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_ -]/g, '').replace(/ /g, '-');
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/**
 * The OpenRPC document (https://spec.open-rpc.org) of every registered method, generated from the
 * registry's zod schemas. Served by `rpc.discover`; docs/API.md is rendered from the same data.
 */
import { z } from 'zod';
import { APPLICATION_ERRORS } from './error-codes.js';
import type { MethodDefinition, MethodRegistry } from './registry.js';

export type JsonSchema = Record<string, unknown>;

/** JSON Schema of a method's params (what clients may send). */
export function paramsJsonSchema(method: MethodDefinition): JsonSchema {
  return z.toJSONSchema(method.params, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/** JSON Schema of a method's result (what the server returns). */
export function resultJsonSchema(method: MethodDefinition): JsonSchema {
  return z.toJSONSchema(method.result, { io: 'output', unrepresentable: 'any' }) as JsonSchema;
}

export function buildOpenRpcDocument(registry: MethodRegistry, version: string): Record<string, unknown> {
  const methods = registry
    .list()
    .slice()
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((method) => {
      const params = paramsJsonSchema(method);
      const properties = (params.properties ?? {}) as Record<string, JsonSchema>;
      const required = new Set((params.required as string[] | undefined) ?? []);
      return {
        name: method.name,
        summary: method.summary,
        ...(method.description ? { description: method.description } : {}),
        paramStructure: 'by-name',
        params: Object.entries(properties).map(([name, schema]) => ({
          name,
          required: required.has(name),
          ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
          schema,
        })),
        result: { name: 'result', schema: resultJsonSchema(method) },
        ...(method.deprecated ? { deprecated: true } : {}),
      };
    });
  return {
    openrpc: '1.3.2',
    info: { title: 'persona-mcp JSON-RPC API', version },
    servers: [{ name: 'WebSocket', url: 'ws://127.0.0.1:8000/mcp' }],
    methods,
    components: {
      errors: Object.fromEntries(
        Object.entries(APPLICATION_ERRORS).map(([kind, info]) => [kind, { code: info.code, message: info.meaning, data: { hint: info.whatToDo } }]),
      ),
    },
  };
}

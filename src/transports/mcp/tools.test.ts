import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { MethodDefinition } from '../../rpc/registry.js';
import { samplingParams } from './host-turns.js';
import { toolAnnotations, toolName, withCachedJsonSchema } from './tools.js';

function method(hints: MethodDefinition['hints']): MethodDefinition {
  return { name: 'persona.delete', summary: 's', requires: 'admin', params: z.object({}), result: z.object({}), hints, handler: async () => ({}) };
}

describe('tool declarations from the registry', () => {
  it('names tools with underscores, which every host accepts', () => {
    expect(toolName('persona.chat')).toBe('persona_chat');
    expect(toolName('memory.search_cross_persona')).toBe('memory_search_cross_persona');
  });

  it('states every hint, since MCP defaults destructive and open-world to true', () => {
    expect(toolAnnotations(method({ readOnly: true, idempotent: true }))).toEqual({
      title: 'Persona delete',
      readOnlyHint: true,
      idempotentHint: true,
      openWorldHint: false,
    });
    expect(toolAnnotations(method(undefined))).toMatchObject({
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: false,
    });
    expect(toolAnnotations(method({ destructive: true, openWorld: true }))).toMatchObject({ destructiveHint: true, openWorldHint: true });
  });

  it('converts a schema to JSON Schema once and keeps zod validation', () => {
    const schema = z.object({ persona_id: z.string().min(1) });
    const wrapped = withCachedJsonSchema(schema);
    expect(withCachedJsonSchema(schema)).toBe(wrapped);
    const json = wrapped['~standard'].jsonSchema.input({ target: 'draft-2020-12' });
    expect(wrapped['~standard'].jsonSchema.input({ target: 'draft-2020-12' })).toBe(json);
    expect(json).toMatchObject({ type: 'object', required: ['persona_id'] });
    expect(wrapped['~standard'].validate({ persona_id: '' })).toMatchObject({ issues: [expect.anything()] });
  });
});

describe('samplingParams', () => {
  it('sends the system prompt apart and the conversation as messages, capped at the token budget', () => {
    const params = samplingParams({
      model: 'llama3.1:8b',
      messages: [
        { role: 'system', content: 'You are Aria.' },
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello, traveller!' },
        { role: 'user', content: 'Sing?' },
      ],
      maxTokens: 120,
      contextTokens: 4096,
      options: { temperature: 0.8 },
    });
    expect(params).toEqual({
      systemPrompt: 'You are Aria.',
      messages: [
        { role: 'user', content: { type: 'text', text: 'Hi' } },
        { role: 'assistant', content: { type: 'text', text: 'Hello, traveller!' } },
        { role: 'user', content: { type: 'text', text: 'Sing?' } },
      ],
      maxTokens: 120,
      includeContext: 'none',
      temperature: 0.8,
    });
  });
});

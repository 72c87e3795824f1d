/**
 * The access matrix, generated from the method registry: every method × {anonymous, user, other user,
 * admin}, over WebSocket JSON-RPC and over MCP tools. Each method's declared `requires` says who is
 * refused; a method added without a rule does not compile, and one whose handler refuses callers its
 * rule admits fails here.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Access } from '../../src/rpc/access.js';
import type { MethodDefinition } from '../../src/rpc/registry.js';
import { exposedMethods, toolName } from '../../src/transports/mcp/tools.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

type Role = 'user' | 'other user' | 'admin';

let ollama: FakeOllama;
let server: TestServer;
const keys: Record<Role, string> = { user: '', 'other user': '', admin: '' };
/** A persona created by "user" (so owned by that user). */
let ownedPersona = '';

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required', 'mcp.tools': ['all'] } });
  keys.user = (await server.server.auth.createKey({ name: 'Alice' })).key;
  keys['other user'] = (await server.server.auth.createKey({ name: 'Bob' })).key;
  keys.admin = (await server.server.auth.createKey({ name: 'Root', role: 'admin' })).key;
  const alice = await connectAs('user');
  ownedPersona = (await alice.result('persona.create', { name: 'Alice Pet', description: 'A persona Alice made.' })).persona_id as string;
  await alice.close();
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

function connectAs(role: Role): Promise<TestClient> {
  return TestClient.connect(server.server.websocketUrl, { headers: { authorization: `Bearer ${keys[role]}` } });
}

/** Params that reach the access check: the persona an owner rule looks at, nothing else. */
function paramsFor(requires: Access, persona: string): Record<string, unknown> {
  return typeof requires === 'object' && 'owner' in requires ? { [requires.param]: persona } : {};
}

/** Whether a role may call a method under its rule, for the persona named (owned by "user", or shared). */
function isAdmitted(requires: Access, role: Role, persona: 'owned' | 'shared'): boolean {
  if (requires === 'user' || role === 'admin') return true;
  if (requires === 'admin' || 'ownData' in requires) return false;
  return role === 'user' && persona === 'owned';
}

/** The methods in an order where nothing destructive runs before the checks that need its data. */
function methods(): MethodDefinition[] {
  return server.server.registry.list().sort((a, b) => Number(a.name === 'persona.delete') - Number(b.name === 'persona.delete'));
}

const ACCESS_REFUSAL = /needs an admin key|is a shared persona|belongs to another user/;

describe('access matrix', () => {
  it('declares a rule for every method', () => {
    for (const method of server.server.registry.list()) {
      expect(method.requires, method.name).toBeDefined();
      if (typeof method.requires === 'object') {
        const param = 'owner' in method.requires ? method.requires.param : method.requires.ownData;
        expect(Object.keys(method.params.shape), method.name).toContain(param);
      }
    }
  });

  it('refuses anonymous callers before any method, on both transports', async () => {
    await expect(TestClient.connect(server.server.websocketUrl)).rejects.toThrow('401');
    for (const method of exposedMethods(server.server.registry)) {
      const response = await fetch(server.server.mcpUrl!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: toolName(method.name), arguments: {} } }),
      });
      expect(response.status, method.name).toBe(401);
    }
  });

  it('admits and refuses user, other user and admin over WebSocket exactly as each rule says', async () => {
    const clients = { user: await connectAs('user'), 'other user': await connectAs('other user'), admin: await connectAs('admin') } as Record<Role, TestClient>;
    const mismatches: string[] = [];
    for (const method of methods()) {
      const cases: Array<['owned' | 'shared', string]> =
        typeof method.requires === 'object' && 'owner' in method.requires ? [['shared', 'aria'], ['owned', ownedPersona]] : [['shared', 'aria']];
      for (const [kind, persona] of cases) {
        // Refused roles first: a refused call changes nothing, so the admitted ones find the data intact.
        for (const role of ['other user', 'user', 'admin'] as Role[]) {
          const answer = await clients[role].call(method.name, paramsFor(method.requires, persona));
          const refused = answer.error?.code === -32031 && answer.error.data?.requires !== undefined;
          if (refused !== !isAdmitted(method.requires, role, kind)) mismatches.push(`${method.name} as ${role} (${kind} persona): ${refused ? 'refused' : 'admitted'}`);
          if (answer.error?.code === -32031 && !refused) mismatches.push(`${method.name} as ${role}: a handler refused with its own check: ${answer.error.message}`);
        }
      }
    }
    await Promise.all(Object.values(clients).map((client) => client.close()));
    expect(mismatches).toEqual([]);
  });

  it('admits and refuses the same way over MCP tools', async () => {
    const jsonSchemaValidator = new CfWorkerJsonSchemaValidator();
    const mcp = {} as Record<Role, Client>;
    for (const role of ['user', 'other user', 'admin'] as Role[]) {
      mcp[role] = new Client({ name: role, version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator });
      await mcp[role].connect(new StreamableHTTPClientTransport(new URL(server.server.mcpUrl!), { requestInit: { headers: { authorization: `Bearer ${keys[role]}` } } }));
    }
    // The WebSocket matrix ended with persona.delete: "user" makes another persona of their own.
    const alice = await connectAs('user');
    const owned = (await alice.result('persona.create', { name: 'Alice Second Pet', description: 'Another persona Alice made.' })).persona_id as string;
    await alice.close();
    const mismatches: string[] = [];
    for (const method of exposedMethods(server.server.registry).filter((candidate) => candidate.name !== 'persona.delete')) {
      for (const role of ['other user', 'user', 'admin'] as Role[]) {
        // Only the params the rule looks at: most methods need more, and a caller the rule refuses must
        // get the access error, not a schema error (access is checked before the arguments).
        const args = paramsFor(method.requires, owned);
        const result = await mcp[role].callTool({ name: toolName(method.name), arguments: args });
        const text = (result.content as Array<{ text?: string }>)[0]?.text ?? '';
        const refused = result.isError === true && ACCESS_REFUSAL.test(text);
        if (refused !== !isAdmitted(method.requires, role, 'owned')) mismatches.push(`${method.name} as ${role}: ${refused ? 'refused' : 'admitted'}`);
        if (!refused && !method.params.safeParse(args).success && !/^Invalid params: /.test(text)) {
          mismatches.push(`${method.name} as ${role}: invalid arguments answered ${JSON.stringify(text.slice(0, 80))}`);
        }
      }
    }
    await Promise.all(Object.values(mcp).map((client) => client.close()));
    expect(mismatches).toEqual([]);
  });
});

/**
 * MCP tool profiles: what a host sees by default (small, no admin tools) and with each profile, measured
 * as a host receives it — the `tools/list` answer of a real server over Streamable HTTP.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { MCP_TOOL_PROFILES } from '../../src/config/schema.js';
import { profiledMethods } from '../../src/transports/mcp/tool-profiles.js';
import { exposedMethods, toolName } from '../../src/transports/mcp/tools.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

type Profile = (typeof MCP_TOOL_PROFILES)[number];
const servers = new Map<Profile | 'default', TestServer>();
const listed = new Map<Profile | 'default', Array<{ name: string }>>();
const sizes = new Map<Profile | 'default', number>();
const clients: Client[] = [];

async function connect(server: TestServer): Promise<Client> {
  const client = new Client({ name: 'profile-test', version: '1.0.0' }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  await client.connect(new StreamableHTTPClientTransport(new URL(server.server.mcpUrl!)));
  clients.push(client);
  return client;
}

beforeAll(async () => {
  const variants: Array<Profile | 'default'> = ['default', ...MCP_TOOL_PROFILES];
  await Promise.all(
    variants.map(async (variant) => {
      const server = await startTestServer(variant === 'default' ? {} : { flags: { 'mcp.tools': [variant] } });
      servers.set(variant, server);
      const { tools } = await (await connect(server)).listTools();
      listed.set(variant, tools);
      sizes.set(variant, Buffer.byteLength(JSON.stringify(tools)));
    }),
  );
  // The figure the issue asks for, in the test output (docs/mcp.md quotes it).
  console.info(`MCP tool definitions (tools/list, bytes of JSON): ${variants.map((variant) => `${variant} ${listed.get(variant)?.length} tools ${sizes.get(variant)} B`).join('; ')}`);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await Promise.all([...servers.values()].map((server) => server.cleanup()));
});

describe('MCP tool profiles', () => {
  it('serves the small chat profile by default: under 15 KB of definitions, no admin or destructive bulk tools', () => {
    const names = listed.get('default')!.map((tool) => tool.name);
    expect(names).toEqual(expect.arrayContaining(['persona_list', 'persona_chat', 'persona_switch', 'memory_search', 'memory_forget', 'conversation_history']));
    for (const admin of ['config_set', 'config_get', 'state_load', 'state_save', 'memory_prune_all', 'persona_delete', 'persona_create']) expect(names).not.toContain(admin);
    expect(sizes.get('default')).toBeLessThan(15 * 1024);
    expect(names.sort()).toEqual(listed.get('chat')!.map((tool) => tool.name).sort());
  });

  it('gives admin tools only to the admin and all profiles', () => {
    for (const profile of ['memory', 'social'] as const) expect(listed.get(profile)!.map((tool) => tool.name)).not.toContain('config_set');
    expect(listed.get('admin')!.map((tool) => tool.name)).toEqual(expect.arrayContaining(['config_set', 'state_load', 'memory_prune_all', 'persona_delete']));
  });

  it('serves every tool with all, and every tool belongs to a profile', async () => {
    const all = listed.get('all')!.map((tool) => tool.name).sort();
    const registry = servers.get('all')!.server.registry;
    expect(all).toEqual(exposedMethods(registry).map((method) => toolName(method.name)).sort());
    const inProfiles = profiledMethods();
    const unclassified = exposedMethods(registry).map((method) => method.name).filter((name) => !inProfiles.has(name));
    expect(unclassified, 'a new MCP tool must be in a profile: add it to PROFILE_METHODS in src/transports/mcp/tool-profiles.ts').toEqual([]);
  });

  it('sends structured results without advertising output schemas (mcp.outputSchemas is off by default)', async () => {
    expect(listed.get('default')!.some((tool) => 'outputSchema' in tool)).toBe(false);
    const client = await connect(servers.get('default')!);
    const result = await client.callTool({ name: 'persona_list', arguments: {} });
    expect((result.structuredContent as { total_count: number }).total_count).toBe(2);
  });

  it('refuses a call to a tool outside the profile', async () => {
    const client = await connect(servers.get('default')!);
    const refused = await client.callTool({ name: 'config_set', arguments: { key: 'logLevel', value: 'debug' } }).then(
      (result) => result,
      (error: unknown) => ({ isError: true, content: [{ type: 'text', text: String(error) }] }),
    );
    expect(refused.isError).toBe(true);
  });

  it('reads mcp.tools from PERSONA_MCP_TOOLS as a comma list and rejects unknown profiles', () => {
    expect(loadConfig({ env: { PERSONA_MCP_TOOLS: 'chat, memory' }, flags: {} }).mcp.tools).toEqual(['chat', 'memory']);
    expect(() => loadConfig({ env: { PERSONA_MCP_TOOLS: 'chat,everything' }, flags: {} })).toThrow(ConfigError);
  });
});

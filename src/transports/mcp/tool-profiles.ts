/**
 * MCP tool profiles: which registry methods an MCP host sees as tools. Every tool definition is sent
 * into each host conversation (the full set is ~58 tools, over 100 KB), so the default is the small
 * `chat` profile and the rest are opt-in (`persona-mcp mcp --tools chat,memory`, or `mcp.tools`).
 * Admin tools (settings, state import/export, bulk pruning, persona management) are never in the default.
 */

import { MCP_TOOL_PROFILES } from '../../config/schema.js';

export const TOOL_PROFILES = MCP_TOOL_PROFILES;
export type ToolProfile = (typeof TOOL_PROFILES)[number];

/** Methods of each profile; `all` is every method served as a tool. */
const PROFILE_METHODS: Record<Exclude<ToolProfile, 'all'>, readonly string[]> = {
  /** Talk to personas and keep control of what they remember about you. */
  chat: [
    'persona.list',
    'persona.get',
    'persona.status',
    'persona.switch',
    'persona.chat',
    'conversation.start',
    'conversation.end',
    'conversation.history',
    'conversation.status',
    'memory.search',
    'memory.forget',
  ],
  /** Browse and edit memories. */
  memory: [
    'persona.list',
    'memory.search',
    'memory.search_cross_persona',
    'memory.list',
    'memory.store',
    'memory.update',
    'memory.delete',
    'memory.forget',
    'memory.stats',
    'memory.shared_stats',
    'memory.group_set',
  ],
  /** Relationships, moods and group conversations between personas. */
  social: [
    'persona.list',
    'persona.relationship',
    'relationship.get',
    'relationship.list',
    'relationship.history',
    'relationship.stats',
    'relationship.compatibility',
    'relationship.update',
    'emotional.get_state',
    'emotional.update_state',
    'emotional.history',
    'conversation.start',
    'conversation.group_status',
    'conversation.interject',
    'conversation.join',
    'conversation.leave',
    'conversation.resume',
    'conversation.branch',
    'conversation.threads',
    'conversation.analytics',
    'conversation.pause',
    'scene.get',
    'scene.set',
    'visual.update',
  ],
  /** Running the server: settings, state, backups, bulk memory maintenance, persona management. */
  admin: [
    'persona.list',
    'persona.create',
    'persona.update',
    'persona.delete',
    'persona.import_card',
    'persona.export_card',
    'persona.preview_prompt',
    'persona.template.get',
    'persona.template.set',
    'persona.export_dataset',
    'persona.set_avatar',
    'config.get',
    'config.set',
    'state.save',
    'state.load',
    'state.backup',
    'state.backups',
    'memory.prune',
    'memory.prune_all',
    'memory.prune_stats',
    'memory.prune_recommendations',
    'memory.decay_force',
    'memory.decay_start',
    'memory.decay_stop',
    'memory.decay_stats',
    'system.status',
    'system.models',
  ],
};

/** Old names kept for the old server's clients; served only with `all` (their new names are in the profiles). */
export const ALIAS_METHODS: readonly string[] = ['persona.memory'];

/**
 * The methods the given profiles expose, or null for every method (`all`). Unknown names never get
 * here: the config schema and the `--tools` flag check them.
 */
export function methodsOfProfiles(profiles: readonly ToolProfile[]): ReadonlySet<string> | null {
  if (profiles.includes('all')) return null;
  return new Set(profiles.flatMap((profile) => (profile === 'all' ? [] : PROFILE_METHODS[profile])));
}

/** Every method named by some profile other than `all` (a test checks each tool belongs somewhere). */
export function profiledMethods(): ReadonlySet<string> {
  return new Set([...Object.values(PROFILE_METHODS).flat(), ...ALIAS_METHODS]);
}

/** Parses `chat,memory` (the flag's and environment's form); throws naming the bad entry. */
export function parseToolProfiles(text: string): ToolProfile[] {
  const names = text.split(',').map((name) => name.trim()).filter((name) => name.length > 0);
  if (names.length === 0) throw new Error(`no tool profile given; use ${TOOL_PROFILES.join(', ')} (comma-separated)`);
  for (const name of names) {
    if (!(TOOL_PROFILES as readonly string[]).includes(name)) throw new Error(`"${name}" is not a tool profile; use ${TOOL_PROFILES.join(', ')} (comma-separated)`);
  }
  return names as ToolProfile[];
}

/**
 * `persona-mcp mcp`: speaks MCP over stdio for MCP hosts (Claude Desktop, VS Code, the MCP Inspector).
 * stdout carries the protocol and nothing else; logs go to stderr. Exits when the host closes stdin or
 * on SIGINT/SIGTERM.
 */
import { Console } from 'node:console';
import type { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { parseToolProfiles } from '../transports/mcp/tool-profiles.js';
import { addConfigFlags, configFromFlags, type ConfigFlagValues } from './config-flags.js';

const LLM_PROVIDERS = ['ollama', 'host', 'auto'] as const;

export function registerMcpCommand(program: Command): void {
  addConfigFlags(program.command('mcp').description('speak MCP over stdio, for MCP hosts (logs go to stderr)'), { listens: false })
    .option('--llm-provider <provider>', "ollama, host (the MCP host's own model) or auto (Ollama when reachable, else the host's)")
    .option('--tools <profiles>', 'tools the host sees: chat (default), memory, social, admin or all; combine with commas (chat,memory)')
    .action(async (options: ConfigFlagValues & { llmProvider?: string; tools?: string }) => {
      await runMcpStdio(withTools(withProvider(configFromFlags(options), options.llmProvider), options.tools));
    });
}

function withTools(config: Config, tools: string | undefined): Config {
  if (tools === undefined) return config;
  try {
    return { ...config, mcp: { ...config.mcp, tools: parseToolProfiles(tools) } };
  } catch (error) {
    throw new ConfigError([`--tools: ${(error as Error).message}`]);
  }
}

function withProvider(config: Config, provider: string | undefined): Config {
  if (provider === undefined) return config;
  if (!(LLM_PROVIDERS as readonly string[]).includes(provider)) {
    throw new ConfigError([`--llm-provider: "${provider}" is not one of ${LLM_PROVIDERS.join(', ')}`]);
  }
  return { ...config, llm: { ...config.llm, provider: provider as Config['llm']['provider'] } };
}

/** Runs until stdin closes or a signal arrives, then closes the store and exits. */
export async function runMcpStdio(config: Config): Promise<void> {
  // stdout is the protocol: a stray console.log anywhere in the process would corrupt it, so the console
  // writes to stderr for the life of this command.
  globalThis.console = new Console({ stdout: process.stderr, stderr: process.stderr });
  // Loaded on use, so that other commands start without the whole server.
  const [{ createCore }, { serveMcpOverStdio }] = await Promise.all([import('../app/app.js'), import('../transports/mcp/stdio.js')]);
  const core = await createCore(config);
  const server = serveMcpOverStdio(core, { maxLineBytes: config.limits.maxFrameBytes });
  core.logger.info({ dataDir: config.dataDir, llm: config.llm.provider, session: server.sessionId }, 'persona-mcp speaks MCP on stdio');
  let stopping = false;
  const stop = (reason: string): void => {
    if (stopping) return;
    stopping = true;
    core.logger.info({ reason }, 'shutting down');
    const exit = (code: number): void => {
      core.logger.flush();
      process.exit(code);
    };
    server
      .close()
      .then(() => core.close())
      .then(
        () => exit(0),
        (error: unknown) => {
          core.logger.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
  };
  process.stdin.once('end', () => stop('stdin closed'));
  process.stdin.once('close', () => stop('stdin closed'));
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

/** Command-line flags shared by the commands that read the server configuration. */
import type { Command } from 'commander';
import { loadConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { findUnknownSettings, type UnknownSetting } from '../config/unknown-settings.js';

export interface ConfigFlagValues {
  config?: string;
  dataDir?: string;
  host?: string;
  port?: string;
  model?: string;
  logLevel?: string;
  ollamaHost?: string;
}

/** `listens: false` leaves out --host and --port, for commands that open no port (`mcp` speaks over stdio). */
export function addConfigFlags(command: Command, options: { listens?: boolean } = {}): Command {
  command
    .option('-c, --config <file>', 'config file (default: ./persona-mcp.config.json when present)')
    .option('-d, --data-dir <dir>', 'data directory (default: ~/.local/share/persona-mcp)');
  if (options.listens !== false) {
    command
      .option('-H, --host <host>', 'interface to listen on (default: 127.0.0.1)')
      .option('-p, --port <port>', 'port for WebSocket and HTTP (default: 8000)');
  }
  return command
    .option('-m, --model <model>', 'default model for personas that name none (default: llama3.1:8b)')
    .option('--ollama-host <url>', 'Ollama address (default: OLLAMA_HOST or http://127.0.0.1:11434)')
    .option('-l, --log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default: info)');
}

/** Loads the config with the flags as the top layer; numbers are parsed here so errors name the flag. */
export function configFromFlags(values: ConfigFlagValues): Config {
  const flags: Record<string, unknown> = {};
  if (values.dataDir !== undefined) flags.dataDir = values.dataDir;
  if (values.host !== undefined) flags.host = values.host;
  if (values.port !== undefined) flags.port = /^\d+$/.test(values.port) ? Number(values.port) : values.port;
  if (values.model !== undefined) flags['llm.model'] = values.model;
  if (values.logLevel !== undefined) flags.logLevel = values.logLevel;
  if (values.ollamaHost !== undefined) flags['llm.ollamaHost'] = values.ollamaHost;
  return loadConfig({ ...(values.config !== undefined ? { configFile: values.config } : {}), flags });
}

/** The settings of the config file, `.env` and the environment `configFromFlags(values)` reads that none has. */
export function unknownSettingsOf(values: ConfigFlagValues): UnknownSetting[] {
  return findUnknownSettings(values.config !== undefined ? { configFile: values.config } : {});
}

/** The `persona-mcp` command. */
import { Command } from 'commander';
import { ConfigError } from '../config/load.js';
import { SERVER_VERSION } from '../version.js';
import { registerChatCommand } from './chat.js';
import { addConfigFlags, configFromFlags, unknownSettingsOf, type ConfigFlagValues } from './config-flags.js';
import { registerDoctorCommand } from './doctor.js';
import { registerMcpCommand } from './mcp.js';
import { registerKeysCommand } from './keys.js';
import { registerLoadCommand } from './load.js';
import { registerModelCommands } from './model.js';
import { registerSimulateCommand } from './simulate.js';
import { registerStateCommands } from './state.js';
import { registerMigrateStoreCommand } from './migrate-store.js';

const program = new Command();
program.name('persona-mcp').description('LLM personas with persistent conversations, over JSON-RPC/WebSocket and MCP.').version(SERVER_VERSION);

addConfigFlags(program.command('serve', { isDefault: true }).description('run the server (WebSocket JSON-RPC and HTTP health on one port)')).action(
  async (options: ConfigFlagValues) => {
    // Loaded on use: the other commands start without loading the whole server.
    const { serve } = await import('./serve.js');
    await serve(configFromFlags(options), unknownSettingsOf(options));
  },
);
registerChatCommand(program);
registerDoctorCommand(program);
registerMcpCommand(program);
registerKeysCommand(program);
registerModelCommands(program);
registerStateCommands(program);
registerMigrateStoreCommand(program);
registerSimulateCommand(program);
registerLoadCommand(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`persona-mcp: ${(error as Error).message}\n`);
  process.exit(1);
});

/**
 * Registers `persona-mcp export | import | backup | restore | card` (docs/state.md). The commands' code
 * (`state-commands.ts`) is loaded only when one of them runs, so other commands start no slower.
 */
import type { Command } from 'commander';
import type { ConflictPolicy } from '../ports/archive.js';
import type { SelectionFlags, Target } from './state-commands.js';

const load = () => import('./state-commands.js');

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

function targetOptions(command: Command, withUrl = true): Command {
  command.option('-c, --config <file>', 'config file (for the data directory)').option('-d, --data-dir <dir>', 'data directory (default: ~/.local/share/persona-mcp)');
  if (withUrl) {
    command.option('-u, --url <url>', 'act on a running server instead (ws://HOST:PORT/mcp)').option('-k, --api-key <key>', 'API key for the server (default: PERSONA_MCP_API_KEY)');
  }
  return command;
}

/** Registers export, import, backup, restore and card on the program. */
export function registerStateCommands(program: Command): void {
  targetOptions(program.command('export').description('write the state (or a selection) to a bundle file'))
    .requiredOption('-o, --out <file>', 'bundle file to write (.tar.gz)')
    .option('--persona <id>', 'only this persona and its conversations (repeatable)', collect)
    .option('--session <id>', 'only this session and its conversations (repeatable)', collect)
    .option('--user <id>', "only this user's sessions and conversations")
    .option('--from <time>', 'only rows dated at or after this time (ISO 8601)')
    .option('--to <time>', 'only rows dated before this time (ISO 8601)')
    .action(async (options: Target & SelectionFlags & { out: string }) => (await load()).exportCommand(options.out, options, options));

  targetOptions(program.command('import <file>').description('import a bundle: verified whole first, then applied in one transaction'))
    .option('--dry-run', 'only report what would change')
    .option('--on-conflict <policy>', 'skip, replace or rename rows whose key is taken', 'skip')
    .action(async (file: string, options: Target & { dryRun?: boolean; onConflict: ConflictPolicy }) => {
      await (await load()).importCommand(file, options, { dryRun: options.dryRun === true, onConflict: options.onConflict });
    });

  targetOptions(program.command('backup').description('copy the live database (works while the server runs)'))
    .option('-o, --out <file>', 'backup file (default: <data-dir>/backups/persona-mcp-<time>.db)')
    .action(async (options: Target & { out?: string }) => {
      await (await load()).backupCommand(options.out, options);
    });

  targetOptions(program.command('restore <file>').description('replace the database with a backup (refuses while a server runs)'), false).action(
    async (file: string, options: Target) => (await load()).restoreCommand(file, options),
  );

  const card = program.command('card').description('Character Card V2/V3 import and export (JSON or PNG)');
  targetOptions(card.command('import <file>').description('create a persona from a card file'))
    .option('--on-conflict <policy>', 'when a persona has its id or name: skip, replace or rename')
    .action(async (file: string, options: Target & { onConflict?: ConflictPolicy }) => {
      await (await load()).cardImportCommand(file, options, options.onConflict);
    });
  targetOptions(card.command('export <persona>').description('write a persona as a card file'))
    .requiredOption('-o, --out <file>', 'card file to write (.json or .png)')
    .option('--spec <spec>', 'v2 or v3', 'v3')
    .option('--format <format>', 'json or png (default: from the file name)')
    .action(async (persona: string, options: Target & { out: string; spec: 'v2' | 'v3'; format?: 'json' | 'png' }) =>
      (await load()).cardExportCommand(persona, options.out, options, { spec: options.spec, ...(options.format ? { format: options.format } : {}) }),
    );
}

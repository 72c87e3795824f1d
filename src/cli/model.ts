/**
 * Registers `persona-mcp model create | dataset` (docs/backends.md): a persona's own Ollama model, and its
 * conversations as a fine-tuning dataset. The work (`model-commands.ts`) is loaded only when one runs.
 */
import type { Command } from 'commander';
import type { DatasetFlags, ModelCreateFlags } from './model-commands.js';

const load = () => import('./model-commands.js');

export function registerModelCommands(program: Command): void {
  const model = program.command('model').description("a persona's own model (Ollama Modelfile + /api/create) and fine-tuning datasets");
  model
    .command('create <persona>')
    .description("write an Ollama Modelfile from the persona (system prompt, parameters, optional LoRA adapter) and create the model, then make the persona use it")
    .option('-c, --config <file>', 'config file (for the data directory and Ollama)')
    .option('-d, --data-dir <dir>', 'data directory (default: ~/.local/share/persona-mcp)')
    .option('--base <model>', "base model (FROM); default: the persona's current model")
    .option('--adapter <path>', 'LoRA adapter to apply (ADAPTER): a .gguf file or a safetensors directory')
    .option('--name <name>', 'name of the new model (default: <persona>-persona)')
    .option('--backend <name>', 'the Ollama backend to create it in (a name from llm.backends; default: ollama)')
    .option('--ollama-host <url>', 'Ollama address (default: OLLAMA_HOST or the config)')
    .option('--modelfile <file>', 'where to write the Modelfile (default: <data-dir>/modelfiles/<name>.Modelfile)')
    .option('--dry-run', 'only write the Modelfile; do not call Ollama or change the persona')
    .option('--no-use', 'create the model but leave the persona on its current model')
    .option('-u, --url <url>', 'a running server (ws://HOST:PORT/mcp) to switch the persona through, when one uses the data directory')
    .option('-k, --api-key <key>', 'API key for that server (default: PERSONA_MCP_API_KEY)')
    .action(async (persona: string, flags: ModelCreateFlags) => {
      await (await load()).modelCreateCommand(persona, flags);
    });

  model
    .command('dataset <persona>')
    .description("export a persona's conversations with one user as a fine-tuning dataset (chat JSONL)")
    .requiredOption('-o, --out <file>', 'JSONL file to write')
    .option('-c, --config <file>', 'config file (for the data directory)')
    .option('-d, --data-dir <dir>', 'data directory (default: ~/.local/share/persona-mcp)')
    .option('--user <id>', "whose conversations (an API key's user id, as `keys list` shows it); default: the local user")
    .option('--min-replies <n>', 'persona replies a conversation needs to be included', '1')
    .option('-u, --url <url>', 'ask a running server instead (ws://HOST:PORT/mcp): exports the conversations of the API key used')
    .option('-k, --api-key <key>', 'API key for that server (default: PERSONA_MCP_API_KEY)')
    .action(async (persona: string, flags: DatasetFlags) => {
      await (await load()).datasetCommand(persona, flags);
    });
}

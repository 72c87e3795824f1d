/**
 * A persona as an Ollama model: the Modelfile (`FROM`, `ADAPTER`, `PARAMETER`, `SYSTEM`) that bakes the
 * persona's system prompt and sampling options into a model of its own, optionally with a LoRA adapter
 * fine-tuned on its conversations. See https://github.com/ollama/ollama/blob/main/docs/modelfile.md.
 */

/** Sampling parameters a Modelfile may set (Ollama's `PARAMETER` names); others are left out. */
export const MODELFILE_PARAMETERS: ReadonlySet<string> = new Set([
  'mirostat',
  'mirostat_eta',
  'mirostat_tau',
  'num_ctx',
  'repeat_last_n',
  'repeat_penalty',
  'temperature',
  'seed',
  'num_predict',
  'top_k',
  'top_p',
  'min_p',
  'typical_p',
]);

export interface PersonaModelSpec {
  /** The base model (`FROM`), e.g. `llama3.1:8b`. */
  from: string;
  /** The persona's system prompt (`SYSTEM`). */
  system: string;
  /** Sampling options; only {@link MODELFILE_PARAMETERS} are kept. */
  parameters: Record<string, number>;
  /** Path of a LoRA adapter (`ADAPTER`, GGUF or safetensors directory), or null. */
  adapter: string | null;
}

/** The options a Modelfile can hold, and the names it had to leave out. */
export function modelfileParameters(options: Record<string, number>): { parameters: Record<string, number>; dropped: string[] } {
  const parameters: Record<string, number> = {};
  const dropped: string[] = [];
  for (const [name, value] of Object.entries(options)) {
    if (MODELFILE_PARAMETERS.has(name) && Number.isFinite(value)) parameters[name] = value;
    else dropped.push(name);
  }
  return { parameters, dropped };
}

/** The Modelfile text. A `"""` inside the prompt would end Ollama's triple-quoted string, so it becomes `'''`. */
export function renderModelfile(spec: PersonaModelSpec): string {
  const lines = [`FROM ${spec.from}`];
  if (spec.adapter !== null) lines.push(`ADAPTER ${spec.adapter}`);
  for (const [name, value] of Object.entries(modelfileParameters(spec.parameters).parameters)) lines.push(`PARAMETER ${name} ${value}`);
  lines.push(`SYSTEM """${spec.system.replaceAll('"""', "'''")}"""`);
  return `${lines.join('\n')}\n`;
}

/**
 * The name a persona's own model gets when none is given: `<persona id>-persona`, lower-cased and limited to
 * the characters Ollama accepts in a model name.
 */
export function personaModelName(personaId: string): string {
  const base = personaId.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[-.]+|[-.]+$/g, '');
  return `${base || 'persona'}-persona`;
}

/** Whether `name` is a model name Ollama accepts (`name`, `name:tag`, `namespace/name:tag`). */
export function isValidModelName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9._-]*(\/[a-zA-Z0-9][a-zA-Z0-9._-]*)?(:[a-zA-Z0-9][a-zA-Z0-9._-]{0,127})?$/.test(name) && name.length <= 200;
}

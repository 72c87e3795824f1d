/**
 * A persona's own model (`persona-mcp model create PERSONA`): the Modelfile built from the persona (system
 * prompt, sampling options, optional LoRA adapter, base model), the model created in Ollama from it, and
 * the persona switched to it.
 */
import { AppError } from '../../domain/errors.js';
import { isValidModelName, modelfileParameters, personaModelName, renderModelfile, type PersonaModelSpec } from '../../domain/modelfile.js';
import type { PersonaRecord } from '../../ports/store.js';
import { buildSystemPrompt } from '../../domain/prompt.js';
import type { ModelCreator } from '../../ports/model-creator.js';
import type { PersonaService } from '../persona-service.js';

export interface PersonaModelOptions {
  /** Base model; defaults to the persona's current model (or the server's default). */
  base?: string | undefined;
  /** LoRA adapter path (file or safetensors directory). */
  adapter?: string | undefined;
  /** Name of the new model; defaults to `<persona id>-persona`. */
  name?: string | undefined;
}

export interface PersonaModelPlan {
  persona: PersonaRecord;
  name: string;
  spec: PersonaModelSpec;
  modelfile: string;
  /** Persona options a Modelfile cannot hold (left out). */
  droppedOptions: string[];
}

export class PersonaModelService {
  constructor(
    private readonly deps: {
      personas: PersonaService;
      creator: ModelCreator;
      /** The server's default model reference. */
      defaultModel: () => string;
      /** The names model references may give the Ollama backend the model is created in (`ollama`, ...). */
      ollamaPrefixes: readonly string[];
    },
  ) {}

  /** What would be created, without touching Ollama. */
  plan(personaIdOrName: string, options: PersonaModelOptions = {}): PersonaModelPlan {
    const persona = this.deps.personas.resolve(personaIdOrName);
    const name = options.name ?? personaModelName(persona.id);
    if (!isValidModelName(name)) {
      throw new AppError('conflict', `"${name}" is not a model name Ollama accepts; use letters, digits, ".", "-" and "_" (e.g. ${personaModelName(persona.id)}).`);
    }
    const base = this.stripBackend(options.base ?? persona.model ?? this.deps.defaultModel());
    if (base === name || base === `${name}:latest`) {
      throw new AppError('conflict', `${persona.name} already uses "${name}"; name the base model to build it from with --base (e.g. llama3.1:8b).`);
    }
    const { parameters, dropped } = modelfileParameters(persona.modelOptions);
    const spec: PersonaModelSpec = { from: base, system: buildSystemPrompt(persona), parameters, adapter: options.adapter ?? null };
    return { persona, name, spec, modelfile: renderModelfile(spec), droppedOptions: dropped };
  }

  /** Creates the model in Ollama; `onProgress` receives Ollama's status lines. */
  async create(plan: PersonaModelPlan, onProgress?: (status: string) => void, signal?: AbortSignal): Promise<void> {
    await this.deps.creator.create(
      { name: plan.name, from: plan.spec.from, system: plan.spec.system, parameters: plan.spec.parameters, adapterPath: plan.spec.adapter },
      onProgress,
      signal,
    );
  }

  /** Makes the persona use its new model. */
  async use(plan: PersonaModelPlan, reference: string): Promise<PersonaRecord> {
    const persona = this.deps.personas.resolve(plan.persona.id);
    return this.deps.personas.update({ ...persona, model: reference });
  }

  /** `ollama:llama3.1:8b` → `llama3.1:8b` (a Modelfile's FROM names the model inside Ollama). */
  private stripBackend(reference: string): string {
    for (const prefix of this.deps.ollamaPrefixes) if (reference.startsWith(`${prefix}:`)) return reference.slice(prefix.length + 1);
    return reference;
  }
}

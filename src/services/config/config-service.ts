/**
 * Runtime configuration: `config.get` and `config.set` for the settings of `live-settings.ts`, plus
 * each persona's model and sampling options (`personas.<id>.model`, `personas.<id>.modelOptions`,
 * kept in the persona's definition). A change is validated as a whole (nothing changes if any value
 * is bad), persisted, applied to the objects the server reads on every request — so the next request
 * sees it — and written to the log with who made it (the audit trail). Stored settings are applied
 * again at every start, over the config file, the environment and the flags, until reset (`null`).
 */
import type { Logger } from 'pino';
import { AppError } from '../../domain/errors.js';
import { describeZodIssues, personaDefinitionSchema } from '../../domain/persona-schema.js';
import type { Clock } from '../../ports/clock.js';
import type { PersonaService } from '../persona-service.js';
import { crossCheck, LIVE_SETTINGS, type LiveTargets } from './live-settings.js';
import type { SettingsRepository } from '../../ports/settings.js';

export interface SettingView {
  key: string;
  value: unknown;
  /** `runtime`: set with config.set (persisted); `startup`: from defaults, config file, environment or flags. */
  source: 'runtime' | 'startup';
  description: string;
}

const PERSONA_KEY = /^personas\.([^.]+)\.(model|modelOptions)$/;
const personaModelSchema = personaDefinitionSchema.shape.model;
const personaOptionsSchema = personaDefinitionSchema.shape.modelOptions;

export class ConfigService {
  /** Values as started (before runtime settings), to go back to on reset. */
  private readonly startup = new Map<string, unknown>();
  private readonly runtimeKeys = new Set<string>();

  constructor(
    private readonly deps: {
      repository: SettingsRepository;
      targets: LiveTargets;
      personas: PersonaService;
      clock: Clock;
      logger: Logger;
      /** Called after `set` changed live settings (the jobs thread then `load`s them: `app/jobs-thread.ts`). */
      onChanged?: () => void;
    },
  ) {
    for (const [key, definition] of Object.entries(LIVE_SETTINGS)) this.startup.set(key, definition.read(deps.targets));
  }

  /**
   * Applies the stored runtime settings; a stored value no longer valid is skipped with a warning. A
   * setting no longer stored (reset since, or not in an imported bundle) goes back to its startup value.
   */
  async load(): Promise<void> {
    const stored = await this.deps.repository.list();
    const storedKeys = new Set(stored.map((setting) => setting.key));
    for (const key of this.runtimeKeys) {
      if (storedKeys.has(key)) continue;
      LIVE_SETTINGS[key]?.apply(this.deps.targets, this.startup.get(key));
      this.runtimeKeys.delete(key);
    }
    for (const setting of stored) {
      const definition = LIVE_SETTINGS[setting.key];
      const parsed = definition?.schema.safeParse(setting.value);
      if (definition === undefined || parsed === undefined || !parsed.success) {
        this.deps.logger.warn({ key: setting.key }, 'ignoring a stored runtime setting that is unknown or no longer valid');
        continue;
      }
      definition.apply(this.deps.targets, parsed.data);
      this.runtimeKeys.add(setting.key);
    }
  }

  /** Every live setting (or those named), and each persona's model and options. */
  get(keys?: string[]): SettingView[] {
    const wanted = keys ?? [...Object.keys(LIVE_SETTINGS), ...this.personaKeys()];
    return wanted.map((key) => this.view(key));
  }

  /**
   * Applies `changes` (key → new value, or null to go back to the startup value) all or nothing.
   * Throws a `SettingsError` listing every bad key or value (the RPC layer validates types earlier,
   * from the same schemas; what remains is settings that contradict each other).
   */
  async set(changes: Record<string, unknown>, actor: string): Promise<SettingView[]> {
    const problems: string[] = [];
    const live: Array<{ key: string; value: unknown }> = [];
    const persona: Array<{ id: string; field: 'model' | 'modelOptions'; value: unknown }> = [];
    for (const [key, raw] of Object.entries(changes)) {
      const match = PERSONA_KEY.exec(key);
      if (match !== null) {
        const field = match[2] as 'model' | 'modelOptions';
        const schema = field === 'model' ? personaModelSchema : personaOptionsSchema;
        const parsed = schema.safeParse(raw === null && field === 'modelOptions' ? {} : raw);
        if (!parsed.success) problems.push(`${key}: ${describeZodIssues(parsed.error)}`);
        else persona.push({ id: this.deps.personas.resolve(match[1] as string).id, field, value: parsed.data });
        continue;
      }
      const definition = LIVE_SETTINGS[key];
      if (definition === undefined) {
        problems.push(`${key}: not a setting that can change at runtime (known: ${Object.keys(LIVE_SETTINGS).join(', ')}, personas.<id>.model, personas.<id>.modelOptions)`);
        continue;
      }
      if (raw === null) {
        live.push({ key, value: null });
        continue;
      }
      const parsed = definition.schema.safeParse(raw);
      if (!parsed.success) problems.push(`${key}: ${describeZodIssues(parsed.error)}`);
      else live.push({ key, value: parsed.data });
    }
    const after: Record<string, unknown> = Object.fromEntries(this.get(Object.keys(LIVE_SETTINGS)).map((view) => [view.key, view.value]));
    for (const change of live) after[change.key] = change.value ?? this.startup.get(change.key);
    problems.push(...crossCheck(after));
    if (problems.length > 0) throw new SettingsError(problems);

    const before = new Map(live.map((change) => [change.key, this.view(change.key).value]));
    await this.deps.repository.save(live, this.deps.clock.now(), actor);
    for (const change of live) {
      const definition = LIVE_SETTINGS[change.key] as (typeof LIVE_SETTINGS)[string];
      definition.apply(this.deps.targets, change.value ?? this.startup.get(change.key));
      if (change.value === null) this.runtimeKeys.delete(change.key);
      else this.runtimeKeys.add(change.key);
      this.deps.logger.info({ audit: 'config.set', actor, key: change.key, from: before.get(change.key), to: this.view(change.key).value, reset: change.value === null }, 'setting changed');
    }
    if (live.length > 0) this.deps.onChanged?.();
    for (const change of persona) {
      const current = this.deps.personas.resolve(change.id);
      const { isBuiltin: _isBuiltin, createdAt: _createdAt, updatedAt: _updatedAt, ...definition } = current;
      await this.deps.personas.update({ ...definition, [change.field]: change.value });
      this.deps.logger.info({ audit: 'config.set', actor, key: `personas.${change.id}.${change.field}`, from: current[change.field], to: change.value }, 'setting changed');
    }
    return this.get([...live.map((change) => change.key), ...persona.map((change) => `personas.${change.id}.${change.field}`)]);
  }

  private personaKeys(): string[] {
    return this.deps.personas.list().flatMap((persona) => [`personas.${persona.id}.model`, `personas.${persona.id}.modelOptions`]);
  }

  private view(key: string): SettingView {
    const match = PERSONA_KEY.exec(key);
    if (match !== null) {
      const persona = this.deps.personas.resolve(match[1] as string);
      const field = match[2] as 'model' | 'modelOptions';
      return { key, value: persona[field], source: 'runtime', description: field === 'model' ? `Model of ${persona.name} (null: the default model).` : `Sampling options of ${persona.name}.` };
    }
    const definition = LIVE_SETTINGS[key];
    if (definition === undefined) throw new SettingsError([`${key}: not a runtime setting`]);
    return { key, value: definition.read(this.deps.targets), source: this.runtimeKeys.has(key) ? 'runtime' : 'startup', description: definition.description };
  }
}

/** One or more invalid settings, or settings that contradict each other, in a `config.set`; nothing was changed. */
export class SettingsError extends AppError {
  constructor(readonly problems: string[]) {
    super('conflict', `invalid settings, nothing was changed: ${problems.join('; ')}`, { data: { problems } });
    this.name = 'SettingsError';
  }
}

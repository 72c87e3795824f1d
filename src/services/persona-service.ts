/**
 * Personas: the catalogue (cached in memory — it is read on every request and changes rarely) and each
 * persona's social energy, persisted with each turn. Energy changes (a turn's spending, a restore) are
 * handed to the store as changes it applies to the state it holds, so nodes sharing one PostgreSQL
 * store never overwrite each other's; a process that is the store's only writer (SQLite) also keeps the
 * states in memory, while nodes sharing a store read them from it (another node may have changed them).
 */
import { AppError } from '../domain/errors.js';
import { matchPersona, type PersonaDefinition } from '../domain/persona.js';
import {
  availability,
  freshEnergy,
  restEnergy,
  restoreEnergy,
  spendEnergy,
  type Availability,
  type EnergyRestore,
  type RestOptions,
  type SocialEnergyState,
} from '../domain/social-energy.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { PersonaRecord, PersonaStateChange, Store } from '../ports/store.js';

export interface PersonaSnapshot {
  persona: PersonaRecord;
  state: SocialEnergyState;
  availability: Availability;
}

export class PersonaService {
  private catalogue = new Map<string, PersonaRecord>();
  /** `all`: the catalogue as an array, kept until the catalogue changes (every change sets it back to null). */
  private listed: readonly PersonaRecord[] | null = null;
  private readonly energy = new Map<string, SocialEnergyState>();
  /** `snapshotNow`'s last answer per persona, with the instant and the stored state it was made from. */
  private readonly recentSnapshots = new Map<string, { at: number; from: SocialEnergyState; snapshot: PersonaSnapshot }>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly events: EventBus,
    /** `sharedStore`: other processes (nodes) change the same store, so energy is not kept in memory. */
    private readonly options: { sharedStore?: boolean } = {},
  ) {}

  /** Seeds the shipped personas (first start only, per persona) and loads the catalogue. */
  async initialise(shipped: PersonaDefinition[]): Promise<string[]> {
    const seeded = await this.store.seedPersonas(shipped, this.clock.now());
    await this.reload();
    return seeded;
  }

  /**
   * Reads the catalogue again from the store, forgetting cached energy of `personaId` (or of all): another
   * node created, changed or deleted a persona, or imported a bundle.
   */
  async refresh(personaId?: string): Promise<void> {
    if (personaId === undefined) {
      this.energy.clear();
      this.recentSnapshots.clear();
      await this.reload();
      return;
    }
    // One persona only: re-reading the whole catalogue could drop one created here meanwhile.
    this.energy.delete(personaId);
    this.recentSnapshots.delete(personaId);
    const record = await this.store.getPersona(personaId);
    if (record === null) this.catalogue.delete(personaId);
    else this.catalogue.set(personaId, record);
    this.listed = null;
  }

  private async reload(): Promise<void> {
    const records = await this.store.listPersonas();
    this.catalogue = new Map(records.map((record) => [record.id, record]));
    this.listed = null;
  }

  list(): PersonaRecord[] {
    return [...this.catalogue.values()];
  }

  /**
   * Every persona, as one frozen array shared until the catalogue changes: persona.list reads the catalogue
   * on every call, and a new array with its iterator per call was a tenth of its allocation (bench/README.md,
   * round 10).
   */
  all(): readonly PersonaRecord[] {
    return (this.listed ??= Object.freeze([...this.catalogue.values()]));
  }

  /** The persona with this exact id, or null: the one lookup for ids the server stored itself. */
  find(id: string): PersonaRecord | null {
    return this.catalogue.get(id) ?? null;
  }

  /** Who owns the persona named by id or name: null for a shared one, undefined when there is none (the access check asks). */
  ownerOf(idOrName: string): string | null | undefined {
    return (this.catalogue.get(idOrName) ?? matchPersona(this.catalogue.values(), idOrName))?.ownerUserId;
  }

  /** Finds a persona by id or name (case-insensitive) or fails with `persona_not_found`. */
  resolve(idOrName: string): PersonaRecord {
    const persona = this.catalogue.get(idOrName) ?? matchPersona(this.catalogue.values(), idOrName);
    if (persona === undefined) {
      const known = this.list()
        .map((record) => record.id)
        .join(', ');
      throw new AppError('persona_not_found', `No persona "${idOrName}". Known personas: ${known || 'none'}.`, {
        data: { persona_id: idOrName },
      });
    }
    return persona;
  }

  /**
   * The persona with its energy brought up to now. `opensConversation`: read for the persona's first
   * exchange in a conversation, which starts fresh after a rest (`domain/social-energy.ts`).
   */
  async snapshot(persona: PersonaRecord, options: RestOptions = {}): Promise<PersonaSnapshot> {
    const now = this.clock.now();
    const state = restEnergy(await this.loadState(persona), persona.socialEnergy, now, options);
    return { persona, state, availability: availability(state, persona.socialEnergy, now) };
  }

  /**
   * `snapshot` without a promise when the energy state is in memory (almost always), else null: the
   * calls polled thousands of times a second (`persona.list`, `persona.status`) then make no promise
   * and no suspended function per read, which was most of what they allocated (bench/README.md, round 5).
   */
  snapshotNow(persona: PersonaRecord): PersonaSnapshot | null {
    const cached = this.energy.get(persona.id);
    if (cached === undefined) return null;
    const now = this.clock.now();
    // Asked again in the same millisecond from the same stored state (under load, ~10 polls a ms): the same
    // snapshot, not three new objects each (bench/README.md, round 9). Read-only for its callers.
    const recent = this.recentSnapshots.get(persona.id);
    if (recent !== undefined && recent.at === now && recent.from === cached && recent.snapshot.persona === persona) return recent.snapshot;
    const state = restEnergy(cached, persona.socialEnergy, now);
    const snapshot = { persona, state, availability: availability(state, persona.socialEnergy, now) };
    if (recent === undefined) this.recentSnapshots.set(persona.id, { at: now, from: cached, snapshot });
    else {
      recent.at = now;
      recent.from = cached;
      recent.snapshot = snapshot;
    }
    return snapshot;
  }

  /**
   * Spends the energy of one exchange: `save` stores the turn with the change it is given (the store
   * applies it to the state it holds then, in the turn's transaction); returns what `save` returned and
   * the state saved.
   */
  async spendOnExchange<T>(
    persona: PersonaRecord,
    exchangedChars: number,
    options: RestOptions,
    save: (change: PersonaStateChange) => Promise<T>,
  ): Promise<{ saved: T; state: SocialEnergyState }> {
    const now = this.clock.now();
    let state: SocialEnergyState | null = null;
    this.energy.delete(persona.id); // a failed write must not leave a stale state cached
    const saved = await save((stored) => {
      state = spendEnergy(stored ?? freshEnergy(persona.socialEnergy, now), persona.socialEnergy, exchangedChars, now, options);
      return state;
    });
    if (state === null) throw new Error(`the store saved the turn of ${persona.id} without applying its energy change`);
    this.remember(persona.id, state);
    return { saved, state };
  }

  /** Sets energy and/or fatigue (`emotional.update_state`; full energy means fully rested); persisted at once. */
  async restore(persona: PersonaRecord, restore: EnergyRestore): Promise<SocialEnergyState> {
    const now = this.clock.now();
    this.energy.delete(persona.id);
    const state = await this.store.updatePersonaState(persona.id, (stored) =>
      restoreEnergy(stored ?? freshEnergy(persona.socialEnergy, now), persona.socialEnergy, restore, now),
    );
    this.remember(persona.id, state);
    return state;
  }

  /** Sets the persona's energy state directly (imports); persisted at once. */
  async replaceState(persona: PersonaRecord, state: SocialEnergyState): Promise<void> {
    this.energy.delete(persona.id);
    await this.store.savePersonaState(persona.id, state);
    this.remember(persona.id, state);
  }

  private remember(personaId: string, state: SocialEnergyState): void {
    if (this.options.sharedStore !== true) this.energy.set(personaId, state);
  }

  private async loadState(persona: PersonaRecord): Promise<SocialEnergyState> {
    const cached = this.energy.get(persona.id);
    if (cached !== undefined) return cached;
    const stored = (await this.store.getPersonaState(persona.id)) ?? freshEnergy(persona.socialEnergy, this.clock.now());
    this.remember(persona.id, stored);
    return stored;
  }

  /** Creates a persona; `ownerUserId` is the plain user who may change it (null: shared, admins change it). */
  async create(definition: PersonaDefinition, ownerUserId: string | null = null): Promise<PersonaRecord> {
    const clash = matchPersona(this.catalogue.values(), definition.name) ?? this.catalogue.get(definition.id);
    if (clash !== undefined) {
      throw new AppError('conflict', `A persona named "${clash.name}" (id "${clash.id}") already exists; choose another name or use persona.update.`, {
        data: { persona_id: clash.id },
      });
    }
    const record = await this.store.insertPersona(definition, this.clock.now(), { ownerUserId });
    this.catalogue.set(record.id, record);
    this.listed = null;
    this.events.publish({ type: 'personaChanged', personaId: record.id, change: 'created' });
    return record;
  }

  async update(definition: PersonaDefinition): Promise<PersonaRecord> {
    const nameClash = matchPersona(this.catalogue.values(), definition.name);
    if (nameClash !== undefined && nameClash.id !== definition.id) {
      throw new AppError('conflict', `Another persona is already named "${nameClash.name}" (id "${nameClash.id}").`, {
        data: { persona_id: nameClash.id },
      });
    }
    const record = await this.store.updatePersona(definition, this.clock.now());
    this.catalogue.set(record.id, record);
    this.listed = null;
    this.events.publish({ type: 'personaChanged', personaId: record.id, change: 'updated' });
    return record;
  }

  async delete(persona: PersonaRecord): Promise<void> {
    await this.store.deletePersona(persona.id, this.clock.now());
    this.catalogue.delete(persona.id);
    this.listed = null;
    this.energy.delete(persona.id);
    this.recentSnapshots.delete(persona.id);
    this.events.publish({ type: 'personaChanged', personaId: persona.id, change: 'deleted' });
  }
}

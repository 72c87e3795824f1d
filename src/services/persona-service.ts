/**
 * Personas: the catalogue (cached in memory — it is read on every request and changes rarely) and each
 * persona's social energy (kept in memory as the authority for this process, persisted with each turn).
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
import type { PersonaRecord, Store } from '../ports/store.js';

export interface PersonaSnapshot {
  persona: PersonaRecord;
  state: SocialEnergyState;
  availability: Availability;
}

export class PersonaService {
  private catalogue = new Map<string, PersonaRecord>();
  private readonly energy = new Map<string, SocialEnergyState>();

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly events: EventBus,
  ) {}

  /** Seeds the shipped personas (first start only, per persona) and loads the catalogue. */
  async initialise(shipped: PersonaDefinition[]): Promise<string[]> {
    const seeded = await this.store.seedPersonas(shipped, this.clock.now());
    await this.reload();
    return seeded;
  }

  private async reload(): Promise<void> {
    const records = await this.store.listPersonas();
    this.catalogue = new Map(records.map((record) => [record.id, record]));
  }

  list(): PersonaRecord[] {
    return [...this.catalogue.values()];
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

  /** Spends the energy of one exchange; the caller persists the returned state with the turn. */
  async spendOnExchange(persona: PersonaRecord, exchangedChars: number, options: RestOptions = {}): Promise<SocialEnergyState> {
    const state = spendEnergy(await this.loadState(persona), persona.socialEnergy, exchangedChars, this.clock.now(), options);
    this.energy.set(persona.id, state);
    return state;
  }

  /** Sets energy and/or fatigue (`emotional.update_state`; full energy means fully rested); persisted at once. */
  async restore(persona: PersonaRecord, restore: EnergyRestore): Promise<SocialEnergyState> {
    const state = restoreEnergy(await this.loadState(persona), persona.socialEnergy, restore, this.clock.now());
    await this.replaceState(persona, state);
    return state;
  }

  /** Sets the persona's energy state directly (emotional.update_state, imports); persisted at once. */
  async replaceState(persona: PersonaRecord, state: SocialEnergyState): Promise<void> {
    this.energy.set(persona.id, state);
    await this.store.savePersonaState(persona.id, state);
  }

  private async loadState(persona: PersonaRecord): Promise<SocialEnergyState> {
    const cached = this.energy.get(persona.id);
    if (cached !== undefined) return cached;
    const stored = (await this.store.getPersonaState(persona.id)) ?? freshEnergy(persona.socialEnergy, this.clock.now());
    this.energy.set(persona.id, stored);
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
    this.events.publish({ type: 'personaChanged', personaId: record.id, change: 'updated' });
    return record;
  }

  async delete(persona: PersonaRecord): Promise<void> {
    await this.store.deletePersona(persona.id, this.clock.now());
    this.catalogue.delete(persona.id);
    this.energy.delete(persona.id);
    this.events.publish({ type: 'personaChanged', personaId: persona.id, change: 'deleted' });
  }
}

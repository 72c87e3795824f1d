/**
 * Character Card import and export (`persona.import_card`, `persona.export_card`, CLI `card`). An
 * imported card becomes a persona — created, or by policy replacing or beside one that has its id or
 * name — and the card itself is kept whole so that exporting the persona later gives back every field
 * and extension the persona did not change.
 */
import { AppError } from '../../domain/errors.js';
import { matchPersona, type PersonaDefinition } from '../../domain/persona.js';
import type { Clock } from '../../ports/clock.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import type { ConflictPolicy } from '../../ports/archive.js';
import type { CardCodec, CardContainer, CardRepository, CardSpecName } from '../../ports/cards.js';

export interface CardImportResult {
  persona: PersonaRecord;
  spec: string;
  action: 'created' | 'replaced' | 'renamed' | 'skipped';
}

const RENAME_ATTEMPTS = 50;

/** Persona pictures for cards: the uploaded avatar, the generated one, and adopting a card's picture. */
export interface CardAvatars {
  uploadedPng(persona: PersonaRecord): Promise<Buffer | null>;
  generatedPng(persona: PersonaRecord): Promise<Buffer>;
  /** Makes a card's picture the persona's avatar (may refuse it: too large, not a picture). */
  adopt(persona: PersonaRecord, png: Buffer): Promise<PersonaRecord>;
}

export class CardService {
  private avatars: CardAvatars | null = null;

  constructor(private readonly deps: { codec: CardCodec; cards: CardRepository; personas: PersonaService; clock: Clock }) {}

  /** Card PNGs carry the persona's avatar, and an imported card's picture becomes its avatar. */
  useAvatars(avatars: CardAvatars): void {
    this.avatars = avatars;
  }

  /**
   * `onConflict` decides what happens when a persona already has the card's id or name: `skip` leaves
   * it, `replace` overwrites it (keeping its id), `rename` adds the card as "Name (2)". Without a policy
   * that is a `conflict` error. The new persona belongs to `caller` unless they are an admin (then it is
   * shared), and `replace` overwrites only a persona the caller may change (theirs, or any for an admin).
   */
  async importCard(
    bytes: Buffer,
    onConflict?: ConflictPolicy,
    caller: { userId: string | null; isAdmin: boolean } = { userId: null, isAdmin: true },
  ): Promise<CardImportResult> {
    const owner = caller.isAdmin ? null : caller.userId;
    const { codec, personas } = this.deps;
    const decoded = codec.decode(bytes);
    const clash = personas.find(decoded.persona.id) ?? matchPersona(personas.list(), decoded.persona.name);
    let persona: PersonaRecord;
    let action: CardImportResult['action'];
    if (clash === undefined) {
      persona = await personas.create(decoded.persona, owner);
      action = 'created';
    } else if (onConflict === undefined) {
      throw new AppError('conflict', `a persona "${clash.name}" (id "${clash.id}") already exists; import with on_conflict skip, replace or rename`, {
        data: { persona_id: clash.id },
      });
    } else if (onConflict === 'skip') {
      return { persona: clash, spec: decoded.spec, action: 'skipped' };
    } else if (onConflict === 'replace') {
      if (!caller.isAdmin && clash.ownerUserId !== caller.userId) {
        throw new AppError('forbidden', `"${clash.name}" is not your persona, so the card cannot replace it; import with on_conflict "rename" to get your own copy.`, {
          data: { persona_id: clash.id, requires: 'persona_owner' },
        });
      }
      persona = await personas.update({ ...decoded.persona, id: clash.id });
      action = 'replaced';
    } else {
      persona = await personas.create(this.freeIdentity(decoded.persona), owner);
      action = 'renamed';
    }
    await this.deps.cards.put({ personaId: persona.id, spec: decoded.spec, card: decoded.card, image: decoded.image, importedAt: this.deps.clock.now() });
    // The card's picture is the character's portrait, unless the card names another avatar (a persona-mcp card
    // whose avatar is an emoji or a URL). A picture refused as an avatar (too large) keeps the generated one.
    const isPortrait = decoded.persona.avatar === null || decoded.persona.avatar.startsWith('media:');
    if (decoded.image !== null && this.avatars !== null && isPortrait) {
      persona = await this.avatars.adopt(persona, decoded.image).catch(() => persona);
    }
    return { persona, spec: decoded.spec, action };
  }

  /** The persona as a card: `card` always, `png` when the container is PNG. */
  async exportCard(idOrName: string, options: { spec: CardSpecName; container: CardContainer }): Promise<{ persona: PersonaRecord; card: Record<string, unknown>; png: Buffer | null }> {
    const persona = this.deps.personas.resolve(idOrName);
    const stored = await this.deps.cards.get(persona.id);
    // The picture of a PNG card: the uploaded avatar, else the imported card's own, else the generated avatar.
    const image =
      options.container === 'png' && this.avatars !== null
        ? ((await this.avatars.uploadedPng(persona)) ?? stored?.image ?? (await this.avatars.generatedPng(persona)))
        : undefined;
    const encoded = this.deps.codec.encode(persona, stored, { ...options, createdAt: persona.createdAt, updatedAt: persona.updatedAt, image });
    return { persona, ...encoded };
  }

  /**
   * `aria-2` / "Aria (2)", the first pair that no persona has. A name no persona has is kept (only the
   * id clashed: a card exported from here, renamed by hand), so a user's "Dropped Bard" stays that.
   */
  private freeIdentity(definition: PersonaDefinition): PersonaDefinition {
    const all = this.deps.personas.list();
    const isNameFree = matchPersona(all, definition.name) === undefined;
    for (let attempt = 2; attempt <= RENAME_ATTEMPTS; attempt += 1) {
      const suffix = `-${attempt}`;
      const id = `${definition.id.slice(0, 48 - suffix.length).replace(/-+$/, '')}${suffix}`;
      const name = isNameFree ? definition.name : `${definition.name.slice(0, 58)} (${attempt})`;
      if (all.some((persona) => persona.id === id) || (!isNameFree && matchPersona(all, name) !== undefined)) continue;
      return { ...definition, id, name };
    }
    throw new AppError('conflict', `no free name was found for "${definition.name}"`);
  }
}

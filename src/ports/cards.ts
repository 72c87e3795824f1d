/** Where the last imported Character Card of each persona is kept whole (`persona_cards` in SQLite). */
export interface StoredCard {
  personaId: string;
  /** `chara_card_v2` or `chara_card_v3`. */
  spec: string;
  /** The card object as imported (with `spec`, `spec_version` and `data`). */
  card: Record<string, unknown>;
  /** The PNG the card came in, without its card chunks; null for a JSON card. */
  image: Buffer | null;
  importedAt: number;
}

export interface CardRepository {
  get(personaId: string): Promise<StoredCard | null>;
  put(card: StoredCard): Promise<void>;
}

export type CardSpecName = 'v2' | 'v3';
export type CardContainer = 'json' | 'png';

export interface DecodedCard {
  /** `chara_card_v2` or `chara_card_v3`. */
  spec: string;
  card: Record<string, unknown>;
  image: Buffer | null;
  /** The persona the card describes (validated). */
  persona: import('../domain/persona.js').PersonaDefinition;
}

/** Reads and writes Character Cards (JSON or PNG); `src/adapters/cards` implements it. */
export interface CardCodec {
  /** A PNG with a card in it, or the card's JSON text. Throws an `invalid_bundle` AppError when it is neither. */
  decode(bytes: Buffer): DecodedCard;
  /** The card for `persona`, keeping the fields and extensions of `stored` that the persona does not change. */
  encode(
    persona: import('../domain/persona.js').PersonaDefinition,
    stored: StoredCard | null,
    options: { spec: CardSpecName; container: CardContainer; createdAt: number; updatedAt: number; image?: Buffer | undefined },
  ): { card: Record<string, unknown>; png: Buffer | null };
}

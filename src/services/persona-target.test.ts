/** PersonaTarget with in-memory fakes of the persona catalogue and the session's active persona. */
import { describe, expect, it } from 'vitest';
import { AppError, isAppError } from '../domain/errors.js';
import type { PersonaRecord } from '../ports/store.js';
import { PersonaTarget } from './persona-target.js';

const aria = { id: 'aria', name: 'Aria' } as PersonaRecord;
const kira = { id: 'kira', name: 'Kira' } as PersonaRecord;
const catalogue = {
  resolve: (idOrName: string): PersonaRecord => {
    const found = [aria, kira].find((persona) => persona.id === idOrName.toLowerCase());
    if (found === undefined) throw new AppError('persona_not_found', `No persona "${idOrName}".`);
    return found;
  },
};
const binding = { id: 'ses_target', userId: null };

describe('PersonaTarget', () => {
  it('takes the persona named, else the session’s active one', async () => {
    const target = new PersonaTarget(catalogue, { activePersonaId: async () => 'kira', activePersonaIdNow: () => undefined });
    expect(await target.persona(binding, 'Aria')).toBe(aria);
    expect(await target.persona(binding, undefined)).toBe(kira);
  });

  it('answers without a promise when the persona is named or the session is at hand, and leaves the rest to `persona`', () => {
    const cached = new PersonaTarget(catalogue, { activePersonaId: async () => 'kira', activePersonaIdNow: () => 'kira' });
    expect(cached.personaNow(binding, 'Aria')).toBe(aria);
    expect(cached.personaNow(binding, undefined)).toBe(kira);
    expect(() => cached.personaNow(binding, 'nobody')).toThrow('No persona "nobody"');
    const unread = new PersonaTarget(catalogue, { activePersonaId: async () => 'kira', activePersonaIdNow: () => undefined });
    expect(unread.personaNow(binding, 'Kira')).toBe(kira);
    expect(unread.personaNow(binding, undefined)).toBeUndefined();
    const none = new PersonaTarget(catalogue, { activePersonaId: async () => null, activePersonaIdNow: () => null });
    expect(none.personaNow(binding, undefined)).toBeUndefined();
  });

  it('says what to do when there is neither, or gives null where every persona is meant', async () => {
    const target = new PersonaTarget(catalogue, { activePersonaId: async () => null, activePersonaIdNow: () => null });
    const error = await target.persona(binding, undefined).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.kind).toBe('no_active_persona');
    expect((error as Error).message).toContain('persona.switch');
    expect(await target.personaOrNone(binding, undefined)).toBeNull();
    await expect(target.persona(binding, 'nobody')).rejects.toThrow('No persona "nobody"');
  });
});

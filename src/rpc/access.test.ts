/** The access rules of `requires` (access.ts), each kind against each caller, with an in-memory persona catalogue. */
import { describe, expect, it } from 'vitest';
import { isAppError } from '../domain/errors.js';
import { checkAccess, describeAccess, isAdmin, type Access, type AccessLookups } from './access.js';
import type { SessionBinding } from './registry.js';

const owners: Record<string, string | null> = { aria: null, pet: 'alice' };
const lookups: AccessLookups = { personaOwner: (idOrName) => owners[idOrName.toLowerCase()] };
const alice: SessionBinding = { id: 's1', userId: 'alice', role: 'user' };
const bob: SessionBinding = { id: 's2', userId: 'bob', role: 'user' };
const admin: SessionBinding = { id: 's3', userId: 'root', role: 'admin' };
const local: SessionBinding = { id: 's4', userId: null };

/** null when admitted, else the error's `data.requires`. */
function verdict(access: Access, params: Record<string, unknown>, session: SessionBinding): string | null {
  try {
    checkAccess('m.x', access, params, session, lookups);
    return null;
  } catch (error) {
    if (!isAppError(error) || error.kind !== 'forbidden') throw error;
    return String((error.data as { requires?: unknown } | undefined)?.requires);
  }
}

describe('access rules', () => {
  it("'user' admits every caller; 'admin' only admins and the local user", () => {
    for (const session of [alice, bob, admin, local]) expect(verdict('user', {}, session)).toBeNull();
    expect(verdict('admin', {}, alice)).toBe('admin');
    expect(verdict('admin', {}, admin)).toBeNull();
    expect(verdict('admin', {}, local)).toBeNull();
    expect([alice, admin, local].map(isAdmin)).toEqual([false, true, true]);
  });

  it('a persona owner rule admits the owner and admins, refuses others and shared personas, by id or name', () => {
    const rule: Access = { owner: 'persona', param: 'persona_id' };
    expect(verdict(rule, { persona_id: 'pet' }, alice)).toBeNull();
    expect(verdict(rule, { persona_id: 'PET' }, alice)).toBeNull();
    expect(verdict(rule, { persona_id: 'pet' }, bob)).toBe('persona_owner');
    expect(verdict(rule, { persona_id: 'aria' }, alice)).toBe('persona_owner');
    expect(verdict(rule, { persona_id: 'aria' }, admin)).toBeNull();
  });

  it('lets an unknown persona through (the handler answers persona_not_found) but not a missing or non-string param', () => {
    const rule: Access = { owner: 'persona', param: 'persona_id' };
    expect(verdict(rule, { persona_id: 'nobody' }, bob)).toBeNull();
    expect(verdict(rule, {}, alice)).toBe('admin');
    expect(verdict(rule, { persona_id: ['pet'] }, alice)).toBe('admin');
  });

  it('an own-data rule needs the param from plain users only', () => {
    const rule: Access = { ownData: 'conversation_id' };
    expect(verdict(rule, { conversation_id: 'conv_1' }, bob)).toBeNull();
    expect(verdict(rule, {}, bob)).toBe('admin');
    expect(verdict(rule, {}, admin)).toBeNull();
  });

  it('says what to do in the refusal, and describes each rule in one line', () => {
    try {
      checkAccess('persona.update', { owner: 'persona', param: 'persona_id' }, { persona_id: 'aria' }, bob, lookups);
      expect.unreachable();
    } catch (error) {
      expect((error as Error).message).toContain('persona.create');
    }
    expect(describeAccess('admin')).toBe('admin');
    expect(describeAccess({ ownData: 'conversation_id' })).toContain('`conversation_id`');
    expect(describeAccess({ owner: 'persona', param: 'persona_id' })).toContain('owns the persona');
  });
});

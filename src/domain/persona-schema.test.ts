import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';

import {
  buildPersonaDefinition,
  DEFAULT_LISTED_TRAIT_VALUE,
  defaultSocialEnergyProfile,
  parsePersonaFile,
  personaDefinitionSchema,
  traitsFromInput,
} from './persona-schema.js';
import type { PersonaDefinition } from './persona.js';

const valid: PersonaDefinition = {
  id: 'tobias',
  name: 'Tobias',
  description: 'A retired knight who keeps bees.',
  backstory: 'Tobias fought in three wars and now prefers bees.',
  personalityTraits: { patient: 80 },
  speakingStyle: 'Slow and kind.',
  topicPreferences: { bees: 95, war: 10 },
  exampleLines: ['The bees know before we do.'],
  attributes: { charisma: 12, intelligence: 13 },
  socialRank: 'knight',
  defaultPriority: 'social',
  socialEnergy: { maxEnergy: 100, availableTime: 400, costPerTurn: 5, recoveryPerMinute: 2 },
  model: null,
  modelOptions: { temperature: 0.7 },
  systemPromptTemplate: '',
  avatar: null,
};

describe('parsePersonaFile', () => {
  it('accepts a complete definition as is', () => {
    expect(parsePersonaFile(valid, 'tobias.json')).toEqual(valid);
  });

  it('derives a missing id from the name', () => {
    const { id: _id, ...withoutId } = { ...valid, name: 'Sir Tobias of Élan' };
    expect(parsePersonaFile(withoutId, 'tobias.json').id).toBe('sir-tobias-of-elan');
  });

  it('defaults model, options, template and avatar when left out', () => {
    const { model: _m, modelOptions: _o, systemPromptTemplate: _t, avatar: _a, ...minimal } = valid;
    const parsed = parsePersonaFile(minimal, 'tobias.json');
    expect(parsed).toMatchObject({ model: null, modelOptions: {}, systemPromptTemplate: '', avatar: null });
  });

  it('names the file and the field when a trait is out of range', () => {
    const bad = { ...valid, personalityTraits: { patient: 120 } };
    expect(() => parsePersonaFile(bad, 'tobias.json')).toThrow(/^Invalid persona file tobias\.json: personalityTraits\.patient: /);
  });

  it('names nested fields and array indices', () => {
    const bad = { ...valid, socialEnergy: { ...valid.socialEnergy, maxEnergy: -1 }, exampleLines: ['ok', ''] };
    const message = (() => {
      try {
        parsePersonaFile(bad, 'tobias.json');
        return '';
      } catch (error) {
        return (error as Error).message;
      }
    })();
    expect(message).toContain('socialEnergy.maxEnergy:');
    expect(message).toContain('exampleLines[1]:');
  });

  it('rejects unknown fields, naming them (a typo must not pass silently)', () => {
    expect(() => parsePersonaFile({ ...valid, speakingstyle: 'x' }, 'tobias.json')).toThrow(/speakingstyle/);
  });

  it('rejects a missing name and an over-long one', () => {
    const { name: _name, ...nameless } = valid;
    expect(() => parsePersonaFile(nameless, 'x.json')).toThrow(/x\.json: name:/);
    expect(() => parsePersonaFile({ ...valid, name: 'N'.repeat(65) }, 'x.json')).toThrow(/name:/);
  });

  it('rejects a description over 2000 characters and an id that is not a slug', () => {
    expect(() => parsePersonaFile({ ...valid, description: 'd'.repeat(2001) }, 'x.json')).toThrow(/description:/);
    expect(() => parsePersonaFile({ ...valid, id: 'Not A Slug' }, 'x.json')).toThrow(/id: must be a slug/);
  });

  it('rejects something that is not an object', () => {
    expect(() => parsePersonaFile([1, 2], 'x.json')).toThrow(/^Invalid persona file x\.json: \(root\): /);
  });
});

describe('personaDefinitionSchema', () => {
  it('rejects a topic preference above 100 and trims names', () => {
    expect(personaDefinitionSchema.safeParse({ ...valid, topicPreferences: { bees: 101 } }).success).toBe(false);
    expect(personaDefinitionSchema.parse({ ...valid, name: '  Tobias ' }).name).toBe('Tobias');
  });
});

describe('buildPersonaDefinition', () => {
  it('fills every field with defaults from a name, a description and a list of traits', () => {
    const persona = buildPersonaDefinition({
      name: 'Sir Tobias',
      description: 'A retired knight.',
      personality_traits: ['Curious', 'witty'],
    });
    expect(persona).toEqual({
      id: 'sir-tobias',
      name: 'Sir Tobias',
      description: 'A retired knight.',
      backstory: '',
      personalityTraits: { curious: 70, witty: 70 },
      speakingStyle: '',
      topicPreferences: {},
      exampleLines: [],
      attributes: { charisma: 10, intelligence: 10 },
      socialRank: 'commoner',
      defaultPriority: 'social',
      socialEnergy: { maxEnergy: 100, availableTime: 450, costPerTurn: 5, recoveryPerMinute: 2 },
      model: null,
      modelOptions: {},
      systemPromptTemplate: '',
      avatar: null,
    });
  });

  it('takes the richer fields and merges a partial social-energy profile with the defaults', () => {
    const persona = buildPersonaDefinition({
      name: 'Mira',
      description: 'A sailor.',
      personality_traits: { bold: 90 },
      topic_preferences: { Sea: 95, politics: 10 },
      speaking_style: 'Salty.',
      backstory: 'Born on a ship.',
      example_lines: ['Ahoy!'],
      model: 'llama3.1:8b',
      model_options: { temperature: 1.1 },
      social_energy: { max_energy: 200, cost_per_turn: 3 },
      avatar: '⚓',
    });
    expect(persona.personalityTraits).toEqual({ bold: 90 });
    expect(persona.topicPreferences).toEqual({ sea: 95, politics: 10 });
    expect(persona.socialEnergy).toEqual({
      maxEnergy: 200,
      availableTime: defaultSocialEnergyProfile.availableTime,
      costPerTurn: 3,
      recoveryPerMinute: defaultSocialEnergyProfile.recoveryPerMinute,
    });
    expect(persona).toMatchObject({ speakingStyle: 'Salty.', backstory: 'Born on a ship.', model: 'llama3.1:8b', avatar: '⚓' });
  });

  it('accepts a name alone (description defaults to empty)', () => {
    expect(buildPersonaDefinition({ name: 'Quiet One' })).toMatchObject({ id: 'quiet-one', description: '' });
  });

  it('throws a ZodError naming the bad field', () => {
    expect(() => buildPersonaDefinition({ name: 'X', topic_preferences: { sea: 150 } })).toThrow(ZodError);
    const thrown = (() => {
      try {
        buildPersonaDefinition({ name: '' });
        return null;
      } catch (error) {
        return error;
      }
    })();
    expect(thrown).toBeInstanceOf(ZodError);
    expect((thrown as ZodError).issues[0]?.path).toEqual(['name']);
  });
});

describe('traitsFromInput', () => {
  it('turns a list into traits at the default strength and lower-cases map keys', () => {
    expect(DEFAULT_LISTED_TRAIT_VALUE).toBe(70);
    expect(traitsFromInput(['Curious', ' witty '])).toEqual({ curious: 70, witty: 70 });
    expect(traitsFromInput({ Bold: 90 })).toEqual({ bold: 90 });
  });
});

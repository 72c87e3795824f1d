/** The shipped persona files parse, and keep the facts users of the old server know (PROTOCOL.md). */
import { readFileSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { parsePersonaFile } from './persona-schema.js';
import type { PersonaDefinition } from './persona.js';

function load(fileName: string): PersonaDefinition {
  const url = new URL(`../../personas/${fileName}`, import.meta.url);
  return parsePersonaFile(JSON.parse(readFileSync(url, 'utf8')) as unknown, fileName);
}

describe('personas/aria.json', () => {
  const aria = load('aria.json');

  it('is the elven bard', () => {
    expect(aria.id).toBe('aria');
    expect(aria.name).toBe('Aria');
    expect(aria.description).toMatch(/elven bard/);
    expect(aria.description).toMatch(/sparkling eyes/);
    expect(aria.description).toMatch(/infectious laugh/);
  });

  it('keeps the traits, topics and attributes', () => {
    expect(aria.personalityTraits).toEqual({ extroverted: 90, creative: 85, empathetic: 80, curious: 75, optimistic: 85 });
    expect(aria.topicPreferences).toEqual({
      music: 95,
      stories: 90,
      travel: 85,
      adventure: 85,
      gossip: 80,
      art: 80,
      'local news': 75,
      magic: 70,
    });
    expect(aria.attributes).toEqual({ charisma: 18, intelligence: 14 });
    expect(aria.socialRank).toBe('performer');
    expect(aria.defaultPriority).toBe('social');
  });

  it('has an extrovert’s social energy and a lively temperature', () => {
    expect(aria.socialEnergy).toEqual({ maxEnergy: 150, availableTime: 600, costPerTurn: 4, recoveryPerMinute: 3 });
    expect(aria.modelOptions['temperature']).toBe(0.9);
    expect(aria.model).toBeNull();
    expect(aria.systemPromptTemplate).toBe('');
  });

  it('is written richly', () => {
    expect(aria.backstory.length).toBeGreaterThan(400);
    expect(aria.speakingStyle.length).toBeGreaterThan(100);
    expect(aria.exampleLines.length).toBeGreaterThanOrEqual(6);
    expect(aria.exampleLines.length).toBeLessThanOrEqual(8);
  });
});

describe('personas/kira.json', () => {
  const kira = load('kira.json');

  it('is the human scholar', () => {
    expect(kira.id).toBe('kira');
    expect(kira.name).toBe('Kira');
    expect(kira.description).toMatch(/human scholar/);
    expect(kira.description).toMatch(/analytical mind/);
    expect(kira.description).toMatch(/knowledge and discovery/);
  });

  it('keeps the traits, topics and attributes', () => {
    expect(kira.personalityTraits).toEqual({ introverted: 70, analytical: 95, focused: 90, methodical: 85, reserved: 75 });
    expect(kira.topicPreferences).toEqual({
      research: 95,
      magic: 90,
      discovery: 90,
      history: 85,
      books: 85,
      philosophy: 80,
      'small talk': 25,
      gossip: 20,
    });
    expect(kira.attributes).toEqual({ charisma: 12, intelligence: 18 });
    expect(kira.socialRank).toBe('scholar');
    expect(kira.defaultPriority).toBe('academic');
  });

  it('has an introvert’s social energy and a steadier temperature', () => {
    expect(kira.socialEnergy).toEqual({ maxEnergy: 80, availableTime: 300, costPerTurn: 6, recoveryPerMinute: 1.5 });
    expect(kira.modelOptions['temperature']).toBe(0.6);
    expect(kira.model).toBeNull();
    expect(kira.systemPromptTemplate).toBe('');
  });

  it('is written richly', () => {
    expect(kira.backstory.length).toBeGreaterThan(400);
    expect(kira.speakingStyle.length).toBeGreaterThan(100);
    expect(kira.exampleLines.length).toBeGreaterThanOrEqual(6);
    expect(kira.exampleLines.length).toBeLessThanOrEqual(8);
  });
});

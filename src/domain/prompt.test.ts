import { describe, expect, it } from 'vitest';

import type { PersonaDefinition } from './persona.js';
import { buildSystemPrompt, describeEnergy, formatInterests, formatTraits, renderTemplate } from './prompt.js';

const aria: PersonaDefinition = {
  id: 'aria',
  name: 'Aria',
  description: 'An elven bard with sparkling eyes.',
  backstory: 'Aria left the silver woods with her lute.',
  personalityTraits: { curious: 75, extroverted: 90, optimistic: 85, creative: 85, empathetic: 80 },
  speakingStyle: 'Warm and playful.',
  topicPreferences: { music: 95, stories: 90, 'local news': 75 },
  exampleLines: ['Ha! Sit by the fire, friend.', 'Every scar has a song in it.'],
  attributes: { charisma: 18, intelligence: 14 },
  socialRank: 'performer',
  defaultPriority: 'social',
  socialEnergy: { maxEnergy: 150, availableTime: 600, costPerTurn: 4, recoveryPerMinute: 3 },
  model: null,
  modelOptions: { temperature: 0.9 },
  systemPromptTemplate: '',
  avatar: null,
};

const bare: PersonaDefinition = {
  ...aria,
  id: 'nobody',
  name: 'Nobody',
  description: 'A quiet stranger.',
  backstory: '',
  personalityTraits: {},
  speakingStyle: '',
  topicPreferences: {},
  exampleLines: [],
};

describe('describeEnergy', () => {
  it.each([
    [1, 0, 'You feel lively and eager to talk.'],
    [0.75, 0, 'You feel lively and eager to talk.'],
    [1, 0.6, 'You feel comfortable and happy to keep talking.'], // 1 × (1 − 0.3) = 0.7
    [0.5, 0, 'You feel comfortable and happy to keep talking.'],
    [0.4, 0, 'You are getting a little tired, so you keep your replies shorter.'],
    [0.8, 1, 'You are getting a little tired, so you keep your replies shorter.'], // 0.8 × 0.5 = 0.4
    [0.5, 1, 'You are tired and would like to wrap up the conversation soon.'], // 0.5 × 0.5 = 0.25
    [0.2, 0, 'You are tired and would like to wrap up the conversation soon.'],
    [0.1, 0, 'You are exhausted and want to end the conversation politely.'],
    [0, 1, 'You are exhausted and want to end the conversation politely.'],
  ])('energy share %d with fatigue %d → %s', (share, fatigue, line) => {
    expect(describeEnergy(share, fatigue)).toBe(line);
  });
});

describe('formatTraits', () => {
  it('lists traits strongest first, ties alphabetically, with their strength', () => {
    expect(formatTraits(aria.personalityTraits)).toBe(
      'extroverted (90/100), creative (85/100), optimistic (85/100), empathetic (80/100), curious (75/100)',
    );
  });
});

describe('formatInterests', () => {
  it("lists Kira's interests best-liked first and her dislikes most disliked first", () => {
    const kira = { research: 95, magic: 90, discovery: 90, history: 85, books: 85, philosophy: 80, 'small talk': 25, gossip: 20 };
    expect(formatInterests(kira)).toBe(
      'You love to talk about research, discovery, magic, books, history and philosophy. ' +
        'You find gossip and small talk tedious and steer the talk elsewhere.',
    );
  });

  it('leaves out lukewarm topics (30–49) and says nothing when there are no topics', () => {
    expect(formatInterests({ weather: 40, bees: 60 })).toBe('You love to talk about bees.');
    expect(formatInterests({})).toBe('');
  });
});

describe('renderTemplate', () => {
  it('fills placeholders and leaves unknown ones as written', () => {
    expect(renderTemplate('Hi {{ name }}, {{unknown}}', { name: 'Aria' })).toBe('Hi Aria, {{unknown}}');
  });

  it('drops a paragraph whose placeholders are all empty, keeping the others', () => {
    const template = 'You are {{name}}.\n\nYour story: {{backstory}}\n\nPlain text stays.';
    expect(renderTemplate(template, { name: 'Aria', backstory: '' })).toBe('You are Aria.\n\nPlain text stays.');
  });
});

describe('buildSystemPrompt', () => {
  const prompt = buildSystemPrompt(aria, {
    moodLine: 'You feel cheerful.',
    energyLine: describeEnergy(1, 0),
  });

  it('introduces the persona by name and description', () => {
    expect(prompt.startsWith('You are Aria. An elven bard with sparkling eyes.\n\n')).toBe(true);
  });

  it('tells the model to stay in character, in the first person, briefly, with a visitor', () => {
    expect(prompt).toContain('Speak only as Aria, in the first person');
    expect(prompt).toContain('Never say or suggest that you are an AI');
    expect(prompt).toContain('The person talking to you is a visitor.');
    expect(prompt).toContain('Keep replies short');
    expect(prompt).toContain("Never write the visitor's lines");
  });

  it('fills in the character sheet', () => {
    expect(prompt).toContain('Your story: Aria left the silver woods with her lute.');
    expect(prompt).toContain('Your personality: extroverted (90/100), creative (85/100),');
    expect(prompt).toContain('How you speak: Warm and playful.');
    expect(prompt).toContain('You love to talk about music, stories and local news.');
    expect(prompt).toContain('- "Ha! Sit by the fire, friend."\n- "Every scar has a song in it."');
  });

  it('ends with the current state and leaves no placeholder behind', () => {
    expect(prompt.endsWith('Right now: You feel cheerful. You feel lively and eager to talk.')).toBe(true);
    expect(prompt).not.toContain('{{');
  });

  it('adds the situation: scene, context, topic and the others present', () => {
    const withScene = buildSystemPrompt(aria, {
      scene: 'The Gilded Lantern, late evening.',
      conversationContext: 'The visitor is looking for a guide.',
      topic: 'the old north road',
      otherParticipants: ['Kira', 'Tobias'],
    });
    expect(withScene).toContain(
      'The scene: The Gilded Lantern, late evening.\n' +
        'Context: The visitor is looking for a guide.\n' +
        'The topic of this conversation: the old north road\n' +
        'Also in this conversation: Kira and Tobias.',
    );
  });

  it('drops the sections a persona does not have', () => {
    const minimal = buildSystemPrompt(bare, {});
    expect(minimal).not.toContain('Your story:');
    expect(minimal).not.toContain('Your personality:');
    expect(minimal).not.toContain('Things you might say');
    expect(minimal).not.toContain('Right now:');
    expect(minimal).not.toMatch(/\n{3}/);
    expect(minimal.endsWith('continue the conversation for them.')).toBe(true);
  });

  it("renders a persona's own template, with Character Card {{char}}/{{user}}, appending the situation", () => {
    const custom = { ...aria, systemPromptTemplate: 'You are {{char}}, talking to {{user}}. {{traits}}', backstory: 'Met {{user}} once.' };
    expect(buildSystemPrompt(custom, { scene: 'A meadow.' })).toBe(
      'You are Aria, talking to the visitor. extroverted (90/100), creative (85/100), optimistic (85/100), ' +
        'empathetic (80/100), curious (75/100)\n\nThe scene: A meadow.',
    );
  });

  it('replaces {{char}} and {{user}} inside the persona text too', () => {
    const card = { ...aria, backstory: '{{char}} once sang for {{user}}.' };
    expect(buildSystemPrompt(card, {})).toContain('Your story: Aria once sang for the visitor.');
  });
});

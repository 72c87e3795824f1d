import { describe, expect, it } from 'vitest';
import { buildPostHistoryInstructions, buildSystemPrompt } from './prompt.js';
import { templateProblem, unknownMacros } from './prompt-template.js';
import type { PersonaDefinition } from './persona.js';

const persona = {
  id: 'kira',
  name: 'Kira',
  description: 'An engineer.',
  backstory: 'Grew up in a workshop.',
  personalityTraits: { curious: 90 },
  speakingStyle: 'Precise.',
  topicPreferences: {},
  exampleLines: ['Gears first.'],
  systemPromptTemplate: '',
} as unknown as PersonaDefinition;

describe('template macros', () => {
  it('knows the card macros in any case for char and user, and names the unknown ones', () => {
    expect(unknownMacros('{{char}} {{Char}} {{USER}} {{description}} {{personality}} {{scenario}} {{mesExamples}} {{original}}')).toEqual([]);
    expect(unknownMacros('{{Description}} {{random::a::b}} {{// note}} {{wiz}} {{wiz}}')).toEqual(['Description', 'random::a::b', '// note', 'wiz']);
    expect(templateProblem('fine {{char}}')).toBeNull();
    expect(templateProblem('{{x}}')).toMatch(/^The template uses an unknown macro \{\{x\}\}; known macros: \{\{char\}\}, /);
  });

  it('fills card macros from the persona and wraps the default prompt with {{original}}', () => {
    const prompt = buildSystemPrompt({ ...persona, systemPromptTemplate: '{{Char}} ({{personality}}) in: {{scenario}}\n\n{{mesExamples}}\n\nBase:\n{{original}}' });
    expect(prompt.startsWith('Kira (curious (90/100). Precise.) in: Grew up in a workshop.\n\n<START>\nKira: Gears first.\n\nBase:\nYou are Kira. An engineer.')).toBe(true);
    expect(buildPostHistoryInstructions(persona, 'Answer {{user}} as {{char}}. {{original}}')).toBe('Answer the visitor as Kira.');
    expect(buildPostHistoryInstructions(persona, '  ')).toBe('');
  });
});

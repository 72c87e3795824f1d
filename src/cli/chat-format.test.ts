/** The chat's wording: results turned into terminal lines. */
import { describe, expect, it } from 'vitest';
import { describeError, formatHistory, formatPersonaList, formatStatus, formatTurnStats, plural } from './chat-format.js';
import { RpcError } from './rpc-client.js';

describe('chat format', () => {
  it('shows turn figures, and the decision only when it is not "continue"', () => {
    const turn = { response: 'hi', continue_score: 72, continue_decision: 'continue', tokens_used: 431, processing_time: 1.234 };
    expect(formatTurnStats(turn)).toBe('  continue 72/100 · 431 tokens · 1.2 s');
    expect(formatTurnStats({ ...turn, continue_decision: 'wrap_up' })).toBe('  continue 72/100 (wrap up) · 431 tokens · 1.2 s');
  });

  it('numbers personas, marks the active one and cuts long descriptions', () => {
    const lines = formatPersonaList(
      [
        { id: 'aria', name: 'Aria', description: 'x'.repeat(80), available: true, social_energy: 90, model: 'm' },
        { id: 'kira', name: 'Kira', description: 'Short.', available: false, social_energy: 5, model: 'm' },
      ],
      'kira',
    );
    expect(lines[0]?.text).toBe(`  1. Aria (aria) — ${'x'.repeat(59)}…`);
    expect(lines[2]?.text).toBe('* 2. Kira (kira) — Short.');
    expect(lines[3]).toEqual({ text: '      energy 5 · resting · m', isNote: true });
  });

  it('lays out history with speakers by name and says when there is more', () => {
    const names = new Map([['aria', 'Aria']]);
    expect(formatHistory({ messages: [], has_more: false }, 'Aria', names, 20)).toEqual([{ text: 'No messages with Aria yet.', isNote: true }]);
    const lines = formatHistory(
      {
        messages: [
          { role: 'user', persona_id: null, content: 'Hello', created_at: '2026-01-01T10:00:00Z' },
          { role: 'assistant', persona_id: 'aria', content: 'Hi!', created_at: '2026-01-01T10:00:05Z' },
        ],
        has_more: true,
      },
      'Aria',
      names,
      300,
    );
    expect(lines[0]?.text).toBe('── history with Aria: 2 messages ──');
    expect(lines[1]?.text).toMatch(/^\d\d:\d\d you › Hello$/);
    expect(lines[2]?.text).toMatch(/^\d\d:\d\d Aria › Hi!$/);
    expect(lines[3]).toEqual({ text: '(older messages exist: /history 500)', isNote: true });
  });

  it('states energy and when a resting persona is back', () => {
    const status = { name: 'Kira', social_energy: 3, max_social_energy: 100, interaction_fatigue: 0.4, available_time: 0, is_available: false, cooldown_remaining: 59.6 };
    expect(formatStatus(status)).toBe('Kira: social energy 3/100 · fatigue 0.4 · resting, back in 60 s');
    expect(formatStatus({ ...status, is_available: true, available_time: 120.2 })).toContain('available, 120 s of talk left');
  });

  it("adds only the part of the server's hint the message does not already say", () => {
    const repeated = new RpcError(-32040, 'The model server is down. Start Ollama (`ollama serve`).', { hint: 'Start it with `ollama serve`.' });
    expect(describeError(repeated)).toBe('The model server is down. Start Ollama (`ollama serve`). [-32040]');
    const novel = new RpcError(-32001, 'No persona "x".', { hint: 'List them with /personas.' });
    expect(describeError(novel)).toBe('No persona "x". — List them with /personas. [-32001]');
    expect(describeError(novel, { withHint: false })).toBe('No persona "x". [-32001]');
    expect(describeError(new Error('plain'))).toBe('plain');
    expect(plural(1, 'message')).toBe('1 message');
  });
});

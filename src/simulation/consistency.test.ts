import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../../test/fakes/fake-ollama.js';
import { OllamaProvider } from '../adapters/ollama/ollama-provider.js';
import { claimsOf, scoreConsistency } from './consistency.js';
import { judgeConsistency } from './judge.js';
import type { PersonaInfo, TranscriptEntry } from './run-record.js';

const bard: PersonaInfo = {
  id: 'aria',
  name: 'Aria',
  description: 'An elven bard who loves songs and stories.',
  speakingStyle: 'Warm and playful.',
  exampleLines: ['Ha! Friend, that is the best song I have heard all week!', 'Sit, sit! The fire is warm and I have a new ballad for you.'],
  traits: { extroverted: 90 },
};

function line(turn: number, content: string): TranscriptEntry {
  return { turn, atMs: turn * 30_000, kind: 'persona', speaker: 'aria', speakerName: 'Aria', user: 'u', content };
}

describe('persona consistency (offline)', () => {
  it('scores a line in the persona voice above a dry, formal one', () => {
    const score = scoreConsistency(bard, [line(1, 'Ha! Friend, sit by the fire, I have a new song for you!'), line(2, 'The quarterly report indicates a decline in procurement efficiency metrics.')], []);
    expect(score.lines[0]!.score).toBeGreaterThan(0.6);
    expect(score.lines[1]!.score).toBeLessThan(0.4);
    expect(score.overall).toBeCloseTo((score.lines[0]!.score + score.lines[1]!.score) / 2, 2);
  });

  it('finds contradictions with its own statements and with told facts, and halves those lines', () => {
    expect(claimsOf('I am not tired. My horse is called Nell.')).toEqual([
      expect.objectContaining({ key: 'i am tired', isPositive: false, owner: 'speaker' }),
      expect.objectContaining({ key: 'horse', value: 'nell', owner: 'speaker' }),
    ]);
    const facts = [{ id: 'sister', user: 'u', persona: 'aria', text: 'My sister is Mira.', keywords: ['Mira'], turn: 0 }];
    const score = scoreConsistency(bard, [line(1, 'I am tired, friend!'), line(2, 'I am not tired at all!'), line(3, 'Your sister is Lena, a sailor!')], facts);
    expect(score.contradictions.map((found) => [found.turn, found.kind])).toEqual([
      [2, 'own_statement'],
      [3, 'told_fact'],
    ]);
    expect(score.lines.map((entry) => entry.contradictions)).toEqual([0, 1, 1]);
  });
});

describe('persona consistency (LLM judge)', () => {
  let ollama: FakeOllama;
  beforeAll(async () => {
    ollama = await startFakeOllama();
  });
  afterAll(async () => {
    await ollama.close();
  });

  it('maps the rating 1..5 to 0..1 with the fixed rubric, keeping the offline score of a line it could not rate', async () => {
    const transcript = [line(1, 'Ha! Friend, sit down!'), line(2, 'Sing with me!')];
    const offline = scoreConsistency(bard, transcript, []);
    ollama.setReply((body) => (body.messages!.at(-1)!.content.includes('Sing with me') ? 'Well, it depends.' : '4'));
    const judged = await judgeConsistency(new OllamaProvider({ baseUrl: ollama.url }), 'llama3.1:8b', bard, transcript, offline);
    expect(judged.lines[0]).toMatchObject({ judge: 0.75, score: 0.75 });
    expect(judged.lines[1]).toMatchObject({ judge: null, score: offline.lines[1]!.score });
    expect(judged.method).toBe('llm-judge (partly offline)');
    const request = ollama.requests.at(-1)!.body;
    expect(request.messages![0]!.content).toContain('Answer with one number from 1 to 5');
    expect(request.messages![1]!.content).toContain('Example lines:\n- "Ha! Friend, that is the best song I have heard all week!"');
  });
});

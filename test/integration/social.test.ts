/** Relationships, emotional state, continue score and topic threads end to end, with the fake Ollama. */
import { appraisalReply } from '../fakes/appraisal-reply.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { rmSync } from 'node:fs';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

/** The system prompt of the newest persona chat request the fake received (not memory scoring and such). */
function lastSystemPrompt(): string {
  const prompts = ollama.requests
    .map((request) => request.body.messages?.[0]?.content ?? '')
    .filter((content) => content.includes('Stay in character'));
  return prompts.at(-1) ?? '';
}

/** Relationship updates after chat turns run on the durable job queue. */
async function drainJobs(): Promise<void> {
  await server.server.services.memory.jobs.drain(5000);
}

async function createPersona(client: Awaited<ReturnType<TestServer['connect']>>, name: string): Promise<string> {
  const created = await client.result('persona.create', {
    name,
    description: 'a test persona',
    personality_traits: { curious: 60 },
    topic_preferences: { music: 60 },
  });
  return created.id;
}

describe('relationships', () => {
  it('tracks how a persona feels about the user after each chat turn (persona.relationship is real)', async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Wren');
    await client.result('persona.switch', { persona_id: id });
    const before = await client.result('persona.relationship', {});
    expect(before).toMatchObject({ persona_id: id, other_kind: 'user', other_id: 'local', relationship: null, exists: false });

    await client.result('persona.chat', { message: 'Thank you, that was lovely' });
    await drainJobs();
    const after = await client.result('persona.relationship', {});
    // quality 0.7 × 0.5 ("Thank you", "lovely") + 0.3 × 0 (the echo reply repeats the words: 0.5) = 0.5
    expect(after.exists).toBe(true);
    expect(after.relationship).toMatchObject({
      other_kind: 'user',
      interaction_count: 1,
      affinity: 0.05,
      trust: 0.3175,
      familiarity: 0.05,
      relationship_type: 'stranger',
    });

    const history = await client.result('relationship.history', { persona1_id: id });
    expect(history.events).toHaveLength(1);
    expect(history.events[0]).toMatchObject({ source: 'chat', quality: 0.5, affinity: 0.05 });
  });

  it("uses the model's judgement of the exchange when it gives one", async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Juniper');
    ollama.setReply((body) => (body.messages?.[0]?.content.startsWith('You rate the tone') ? '-0.6' : (appraisalReply(body, { tone: -0.6 }) ?? 'Fine.')));
    try {
      await client.result('persona.chat', { persona_id: id, message: 'Thank you, that was lovely' });
      await drainJobs();
    } finally {
      ollama.setReply(
        (body) =>
          `${/\bYou are ([A-Z][\w-]*)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Assistant'} hears you: ${body.messages?.at(-1)?.content}`,
      );
    }
    const history = await client.result('relationship.history', { persona1_id: id });
    expect(history.events[0]).toMatchObject({ source: 'llm', quality: -0.6, affinity: -0.06 });
  });

  it('updates both directions between personas, lists them, and keeps a timeline', async () => {
    const client = await server.connect();
    const a = await createPersona(client, 'Orrin');
    const b = await createPersona(client, 'Pell');
    const none = await client.result('relationship.get', { persona1_id: a, persona2_id: b });
    expect(none).toMatchObject({ relationship: null, exists: false });
    expect(none.message).toMatch(/not interacted/);

    const updated = await client.result('relationship.update', {
      persona1_id: a,
      persona2_id: b,
      interaction_quality: 1,
      duration_minutes: 2,
      context: 'shared a song',
    });
    expect(updated).toMatchObject({ success: true, interaction_processed: { quality: 1, duration_minutes: 2 } });
    expect(updated.updated_relationship).toMatchObject({
      affinity: 0.1,
      trust: 0.335,
      respect: 0.525,
      relationship_type: 'stranger',
      compatibility_score: 90,
    });

    const back = await client.result('relationship.get', { persona1_id: 'Pell', persona2_id: 'Orrin' });
    expect(back.relationship).toMatchObject({ affinity: 0.1, interaction_count: 1, total_interaction_time: 120 });

    await client.result('relationship.update', { persona1_id: a, persona2_id: b, interaction_quality: -1, mutual: false });
    const history = await client.result('relationship.history', { persona1_id: a, persona2_id: b });
    expect(history.events.map((event: { quality: number }) => event.quality)).toEqual([-1, 1]);
    expect((await client.result('relationship.get', { persona1_id: b, persona2_id: a })).relationship.interaction_count).toBe(1);

    const list = await client.result('relationship.list', { persona_id: a });
    expect(list.total_relationships).toBe(1);
    expect(list.relationships[0]).toMatchObject({ persona_id: a, other_persona_id: b, interaction_count: 2 });
    const stats = await client.result('relationship.stats');
    expect(stats.relationship_statistics.persona_pairs).toBeGreaterThanOrEqual(2);
  });

  it('explains the compatibility of Aria and Kira', async () => {
    const client = await server.connect();
    const result = await client.result('relationship.compatibility', { persona1_id: 'Aria', persona2_id: 'kira' });
    expect(result.persona1).toEqual({ id: 'aria', name: 'Aria' });
    expect(result.compatibility_analysis.score).toBe(36);
    expect(result.compatibility_analysis.shared_interests).toEqual(['magic']);
    expect(result.compatibility_analysis.reasons[0]).toMatchObject({ factor: 'interests', points: -20.7 });
    expect(result.interaction_suggestions).toEqual(['Talk about magic: both of them care about it.']);
  });
});

describe('emotional state', () => {
  it('sets a mood that reaches the prompt and persona.status', async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Sable');
    const initial = await client.result('emotional.get_state', { persona_id: id });
    expect(initial.emotional_state).toMatchObject({ mood: 'cheerful', valence: 0.2, arousal: 0.4, energy_level: 1 });

    const updated = await client.result('emotional.update_state', {
      persona_id: id,
      mood: 'irritated',
      stress_level: 0.7,
      energy_level: 0.25,
    });
    expect(updated.updated_state).toMatchObject({ mood: 'irritated', valence: -0.4, arousal: 0.5, stress_level: 0.7, energy_level: 0.25 });
    const status = await client.result('persona.status', { persona_id: id });
    expect(status).toMatchObject({ mood: 'irritated', mood_description: 'You are a little irritated. You feel stressed.' });

    await client.result('persona.chat', { persona_id: id, message: 'hello there' });
    expect(lastSystemPrompt()).toContain(
      'Right now: You are a little irritated. You feel stressed. You are tired and would like to wrap up the conversation soon.',
    );
  });

  it('asks a tired persona to close the conversation gracefully (continue score below the wind-down threshold)', async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Thorne');
    await client.result('emotional.update_state', { persona_id: id, energy_level: 0.02 });
    const reply = await client.result('persona.chat', { persona_id: id, message: 'ok' });
    expect(reply.continue_decision).toBe('end');
    expect(lastSystemPrompt()).toContain('say a warm, polite goodbye');
  });

  it('feeds the affinity towards the user into the continue score', async () => {
    const client = await server.connect();
    const liked = await createPersona(client, 'Liked');
    const plain = await createPersona(client, 'Plain');
    for (let i = 0; i < 5; i++) await client.result('relationship.update', { persona1_id: liked, interaction_quality: 1 });
    // affinity 1 − 0.9⁵ = 0.4095: the relationship term rises from 0.5 to 0.7048, +0.15 × 0.2048 = 3.07 points
    // (each score is rounded on its own, so the rounded scores differ by 3 or 4)
    const warm = await client.result('persona.chat', { persona_id: liked, message: 'Tell me about music' });
    const cool = await client.result('persona.chat', { persona_id: plain, message: 'Tell me about music' });
    expect(warm.continue_score - cool.continue_score).toBeGreaterThanOrEqual(3);
    expect(warm.continue_score - cool.continue_score).toBeLessThanOrEqual(4);
  });
});

describe('topic threads', () => {
  it('opens a thread on a change of subject, returns to an earlier one, and branches explicitly', async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Quill');
    const first = await client.result('persona.chat', { persona_id: id, message: 'Tell me about the ancient libraries of the elves' });
    await client.result('persona.chat', { persona_id: id, message: 'Do you know good recipes for mushroom soup with garlic?' });
    let threads = await client.result('conversation.threads', { conversation_id: first.conversation_id });
    expect(threads.threads).toHaveLength(2);
    expect(lastSystemPrompt()).toContain('Earlier in this conversation you also talked about:\n- ancient, elve, library: 2 message(s)');

    await client.result('persona.chat', { persona_id: id, message: 'Back to the elves: were their libraries ancient?' });
    expect(lastSystemPrompt()).toContain(
      'What was said about it before:\n- The visitor: "Tell me about the ancient libraries of the elves"\n- You: "Quill hears you: Tell me about the ancient libraries of the elves"',
    );
    threads = await client.result('conversation.threads', { conversation_id: first.conversation_id });
    expect(threads.threads).toHaveLength(2);
    expect(threads.current_thread_id).toBe(threads.threads[0].thread_id);

    const branch = await client.result('conversation.branch', { conversation_id: first.conversation_id, label: 'travel plans' });
    expect(branch.label).toBe('travel plans');
    await client.result('persona.chat', { persona_id: id, message: 'Where should we go next spring?' });
    // The window prefers the current thread: older turns of other threads are left out (their summary
    // lines stay), the two messages right before the newest stay for continuity.
    const turn = ollama.requests.filter((request) => request.body.messages?.at(-1)?.content === 'Where should we go next spring?').at(-1)!;
    const sent = turn.body.messages!.map((message) => message.content);
    expect(sent).not.toContain('Do you know good recipes for mushroom soup with garlic?');
    expect(sent).not.toContain('Tell me about the ancient libraries of the elves');
    expect(sent).toContain('Back to the elves: were their libraries ancient?');
    expect(sent.at(-1)).toBe('Where should we go next spring?');
    threads = await client.result('conversation.threads', { conversation_id: first.conversation_id });
    expect(threads.current_thread_id).toBe(branch.thread_id);
    expect(threads.threads.find((thread: { thread_id: number }) => thread.thread_id === branch.thread_id)).toMatchObject({
      label: 'travel plans',
      is_branch: true,
      message_count: 2,
    });
  });
});

describe('conversation.analytics', () => {
  it('counts what the transcript holds, per conversation, per persona and overall', async () => {
    const client = await server.connect();
    const id = await createPersona(client, 'Tally');
    const first = await client.result('persona.chat', { persona_id: id, message: 'one two three' });
    await client.result('persona.chat', { persona_id: id, message: 'four five' });
    const history = await client.result('conversation.history', { conversation_id: first.conversation_id });
    const analytics = await client.result('conversation.analytics', { conversation_id: first.conversation_id });
    expect(analytics).toMatchObject({ scope: 'conversation', conversations: { total: 1, active: 1, groups: 0 } });
    expect(analytics.totals).toMatchObject({ messages: 4, turns: 2, user_messages: 2 });
    expect(analytics.totals.tokens).toBe(history.messages.reduce((sum: number, message: { tokens: number }) => sum + message.tokens, 0));
    expect(
      analytics.speakers.map((speaker: { speaker: string; messages: number; share: number }) => [
        speaker.speaker,
        speaker.messages,
        speaker.share,
      ]),
    ).toEqual([
      ['user', 2, 0.5],
      [id, 2, 0.5],
    ]);
    const user = analytics.speakers.find((speaker: { speaker: string }) => speaker.speaker === 'user');
    expect(user.characters).toBe('one two three'.length + 'four five'.length);
    expect(analytics.mood_changes).toHaveLength(2);

    const persona = await client.result('conversation.analytics', { persona_id: id });
    expect(persona).toMatchObject({ scope: 'persona', persona_id: id, conversations: { total: 1 }, totals: { messages: 4, turns: 2 } });
    const overall = await client.result('conversation.analytics', {});
    expect(overall.scope).toBe('overall');
    expect(overall.totals.messages).toBeGreaterThanOrEqual(4);
  });
});

describe('state across a restart', () => {
  it('keeps relationships and moods', async () => {
    const dataDir = makeDataDir();
    try {
      let running = await startTestServer({ ollamaUrl: ollama.url, dataDir });
      let client = await running.connect();
      await client.result('relationship.update', { persona1_id: 'aria', persona2_id: 'kira', interaction_quality: 0.5 });
      await client.result('emotional.update_state', { persona_id: 'kira', mood: 'cheerful' });
      const relationship = (await client.result('relationship.get', { persona1_id: 'aria', persona2_id: 'kira' })).relationship;
      await running.stop();

      running = await startTestServer({ ollamaUrl: ollama.url, dataDir });
      client = await running.connect();
      expect((await client.result('relationship.get', { persona1_id: 'aria', persona2_id: 'kira' })).relationship).toEqual(relationship);
      expect((await client.result('emotional.get_state', { persona_id: 'kira' })).emotional_state.mood).toBe('cheerful');
      await running.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** Prompt templates with Character Card macros, versioned, previewed; cards' post_history_instructions take effect. */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.llmJudgement': false, 'memory.llmImportance': false } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('prompt templates', () => {
  it('refuses an unknown macro on save, listing the known ones', async () => {
    const client = await server.connect();
    const frame = await client.call('persona.template.set', { persona_id: 'kira', template: 'You are {{char}}. {{random::a::b}} {{wiz}}' });

    expect(frame.error.code).toBe(-32602);
    expect(frame.error.message).toContain('unknown macros {{random::a::b}}, {{wiz}}; known macros: {{char}}, {{user}}, {{description}}, {{personality}}, {{scenario}}, {{mesExamples}}');
    const update = await client.call('persona.update', { persona_id: 'kira', system_prompt_template: 'Hi {{nope}}' });
    expect(update.error.code).toBe(-32602);
    expect(update.error.message).toContain('{{nope}}');
  });

  it('saves versions, expands card macros in the prompt the model gets, and previews it exactly', async () => {
    const client = await server.connect();
    const first = await client.result('persona.template.set', { persona_id: 'kira', template: 'You are {{Char}}, talking with {{user}}. {{description}}\n\nPersonality: {{personality}}\n\n{{mesExamples}}' });
    const second = await client.result('persona.template.set', { persona_id: 'kira', template: 'You are {{char}}. Scenario: {{scenario}}' });
    expect([first.version, second.version]).toEqual([1, 2]);

    const view = await client.result('persona.template.get', { persona_id: 'kira' });
    expect(view).toMatchObject({ template: 'You are {{char}}. Scenario: {{scenario}}', source: 'saved' });
    expect(view.versions.map((version: { version: number }) => version.version)).toEqual([2, 1]);
    expect(view.macros).toHaveProperty('mesExamples');

    await client.result('persona.template.set', { persona_id: 'kira', template: view.versions[1].template });
    const preview = await client.result('persona.preview_prompt', { persona_id: 'kira', message: 'What are you building?' });
    expect(preview.messages[0]).toMatchObject({ role: 'system', part: 'system' });
    expect(preview.messages[0].content).toMatch(/^You are Kira, talking with the visitor\. /);
    expect(preview.messages[0].content).toContain('<START>\nKira: ');
    expect(preview.messages.at(-1)).toMatchObject({ role: 'user', part: 'message', content: 'What are you building?' });
    expect(preview.parts.system + preview.parts.message).toBe(preview.total_tokens);
    expect(preview.conversation_id).toBeNull();

    // Nothing was stored by the preview; the real turn sends exactly the previewed messages.
    const reply = await client.result('persona.chat', { persona_id: 'kira', message: 'What are you building?' });
    const sent = ollama.turnFor('What are you building?').body.messages;
    expect(sent).toEqual(preview.messages.map((message: { role: string; content: string }) => ({ role: message.role, content: message.content })));
    const history = await client.result('conversation.history', { conversation_id: reply.conversation_id });
    expect(history.messages).toHaveLength(2);
  });

  it('previews without reinforcing recalled memories', async () => {
    const client = await server.connect();
    await client.result('memory.store', { persona_id: 'aria', content: 'The visitor keeps bees on a rooftop.' });
    const before = (await client.result('memory.list', { persona_id: 'aria' })).memories[0];
    const preview = await client.result('persona.preview_prompt', { persona_id: 'aria', message: 'How are my rooftop bees?' });
    const after = (await client.result('memory.list', { persona_id: 'aria' })).memories[0];

    expect(preview.messages[0].content).toContain('The visitor keeps bees on a rooftop.');
    expect(after.access_count).toBe(before.access_count);
  });

  it("sends a card's post_history_instructions after the conversation", async () => {
    const client = await server.connect();
    const card = JSON.parse(readFileSync('test/fixtures/cards/seraphina-v2.json', 'utf8'));
    card.data.post_history_instructions = 'Stay as {{char}}; answer {{user}} in one sentence.';
    const imported = await client.result('persona.import_card', { card });
    const personaId = imported.persona.persona_id;

    const preview = await client.result('persona.preview_prompt', { persona_id: personaId, message: 'hello' });
    expect(preview.messages.at(-1)).toEqual({ role: 'system', part: 'post_history', content: 'Stay as Seraphina; answer the visitor in one sentence.', tokens: expect.any(Number) });
    expect(preview.parts.post_history).toBeGreaterThan(0);
    const template = await client.result('persona.template.get', { persona_id: personaId, task: 'post_history' });
    expect(template).toMatchObject({ source: 'card', template: 'Stay as {{char}}; answer {{user}} in one sentence.' });

    await client.result('persona.chat', { persona_id: personaId, message: 'hello' });
    expect(ollama.turnFor('hello').body.messages?.at(-1)).toEqual({ role: 'system', content: 'Stay as Seraphina; answer the visitor in one sentence.' });
  });

  it('sends the post-history instruction in effect on every turn: a card imported again, then a saved version', async () => {
    const client = await server.connect();
    const card = JSON.parse(readFileSync('test/fixtures/cards/seraphina-v2.json', 'utf8'));
    card.data.name = 'Seraphine';
    card.data.post_history_instructions = 'First rule for {{char}}.';
    const personaId = (await client.result('persona.import_card', { card })).persona.persona_id;
    await client.result('persona.chat', { persona_id: personaId, message: 'first turn of seraphine' });
    expect(ollama.turnFor('first turn of seraphine').body.messages?.at(-1)).toEqual({ role: 'system', content: 'First rule for Seraphine.' });

    card.data.post_history_instructions = 'Second rule for {{char}}.';
    await client.result('persona.import_card', { card, on_conflict: 'replace' });
    await client.result('persona.chat', { persona_id: personaId, message: 'second turn of seraphine' });
    expect(ollama.turnFor('second turn of seraphine').body.messages?.at(-1)).toEqual({ role: 'system', content: 'Second rule for Seraphine.' });

    await client.result('persona.template.set', { persona_id: personaId, task: 'post_history', template: 'Saved rule for {{char}}.' });
    await client.result('persona.chat', { persona_id: personaId, message: 'third turn of seraphine' });
    expect(ollama.turnFor('third turn of seraphine').body.messages?.at(-1)).toEqual({ role: 'system', content: 'Saved rule for Seraphine.' });
  });

  it("opens a conversation with the card's greeting or one of its alternate_greetings", async () => {
    const client = await server.connect();
    const card = JSON.parse(readFileSync('test/fixtures/cards/seraphina-v2.json', 'utf8'));
    card.data.name = 'Greeter';
    card.data.first_mes = 'Welcome, {{user}}. I am {{char}}.';
    card.data.alternate_greetings = ['{{char}} waves at {{user}}.'];
    const personaId = (await client.result('persona.import_card', { card })).persona.persona_id;

    const view = await client.result('persona.template.get', { persona_id: personaId });
    expect(view.greetings).toEqual(['Welcome, the visitor. I am Greeter.', 'Greeter waves at the visitor.']);
    const started = await client.result('conversation.start', { persona_id: personaId, greeting: 1 });
    expect(started.greeting).toBe('Greeter waves at the visitor.');
    const history = await client.result('conversation.history', { conversation_id: started.conversation_id });
    expect(history.messages.map((message: { role: string; content: string }) => [message.role, message.content])).toEqual([['assistant', 'Greeter waves at the visitor.']]);
    const reply = await client.result('persona.chat', { conversation_id: started.conversation_id, message: 'hi' });
    expect(ollama.turnFor('hi').body.messages?.slice(1, 3)).toEqual([
      { role: 'assistant', content: 'Greeter waves at the visitor.' },
      { role: 'user', content: 'hi' },
    ]);
    expect(reply.response).toContain('hi');

    const frame = await client.call('conversation.start', { persona_id: 'aria', greeting: 0 });
    expect(frame.error.message).toBe('Aria has no greeting from a Character Card.');
  });
});

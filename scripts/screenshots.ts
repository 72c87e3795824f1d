/**
 * Regenerates the screenshots in docs/screenshots/ (`npm run docs:screenshots`): a real server with the
 * fake Ollama in a temp data dir, a little conversation, a scene, a group talk and some memories, then
 * Debian's Chromium (playwright-core) photographs each screen. Needs `apt-get install chromium`.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeOllama } from '../test/fakes/fake-ollama.js';
import { hasChromium, launchChromium } from '../test/helpers/browser.js';
import { startTestServer } from '../test/helpers/server.js';

const OUT = fileURLToPath(new URL('../docs/screenshots/', import.meta.url));

async function main(): Promise<void> {
  if (!hasChromium()) throw new Error('Chromium is missing: apt-get install -y chromium');
  const ollama = await startFakeOllama();
  const lines: Record<string, string[]> = {
    Aria: ['Oh, a sea song! I know one my grandmother taught me, about a lighthouse that sang back to the ships.', 'Kira, you would love the old shanties — every verse is a map if you listen closely.'],
    Kira: ['The oldest written melody we have is the Hurrian hymn, three and a half thousand years old.', 'A map in a song? Fascinating. Sing me one verse and I will tell you where it leads.'],
  };
  const turn: Record<string, number> = {};
  ollama.setReply((body) => {
    const name = /\bYou are ([A-Z]\w*)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Aria';
    const said = lines[name] ?? ['Hello there.'];
    const index = turn[name] ?? 0;
    turn[name] = index + 1;
    return said[index % said.length]!;
  });
  // The clock starts eight hours ago, so that the mood and energy charts have a day to show.
  let offset = -8 * 3_600_000;
  const clock = { now: () => Date.now() + offset };
  const server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 50 }, clock });
  const browser = await launchChromium();
  try {
    const client = await server.connect();
    const day = [
      'Good morning Aria, what a lovely day, thank you for the wonderful song!',
      'Why do ships need lighthouses at night?',
      'That last story was terrible and boring, honestly.',
      'Sorry, I was grumpy. Your songs are beautiful and I love them.',
      'Tell me about the salt coast?',
      'Wonderful, brilliant, thank you so much!',
    ];
    // Another visitor's day with Aria (its own session, so the chat screen shows only the visit below).
    const visitor = await server.connect();
    for (const message of day) {
      await visitor.result('persona.chat', { persona_id: 'aria', message });
      offset += 70 * 60_000;
    }
    await visitor.close();
    offset = 0;
    const chat = await client.result('persona.chat', { persona_id: 'aria', message: 'Hello Aria! Do you know any songs about the sea?' });
    await client.result('scene.set', {
      conversation_id: chat.conversation_id,
      location: 'the Gilded Lantern tavern',
      time_of_day: 'late evening',
      weather: 'rain on the windows',
      present: ['Aria', 'you', 'an old sailor by the fire'],
      description: 'The fire is low and the common room is almost empty.',
    });
    await client.result('memory.store', { persona_id: 'aria', content: 'The visitor loves sea shanties and old maps.', importance: 0.8 });
    await client.result('memory.store', { persona_id: 'aria', content: 'The visitor grew up by the salt coast.', importance: 0.6 });
    await client.result('relationship.update', { persona1_id: 'aria', persona2_id: 'kira', interaction_quality: 0.6, duration_minutes: 20, context: 'a long talk about songs' });
    const group = await client.result('conversation.start', { personas: ['aria', 'kira'], topic: 'the oldest song in the world', max_turns: 4 });
    await server.server.services.groups.whenIdle(group.conversation_id);

    mkdirSync(OUT, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
    const session = (await client.result('session.info')).session_id as string;
    // The pages join the seeding session, so they show its chat and group.
    await context.addInitScript(`sessionStorage.setItem('persona-mcp.session', ${JSON.stringify(session)})`);
    await client.close();
    const shots: Array<[string, string, string]> = [
      ['gallery', '/gallery', 'li.card'],
      ['chat', '/chat/aria', 'li.message.from-persona'],
      ['group', `/group/${group.conversation_id}`, 'li.message'],
      ['memory', '/memory/aria', 'li.memory'],
      ['relations', '/relations', 'svg.graph'],
    ];
    for (const [name, hash, ready] of shots) {
      const page = await context.newPage();
      await page.goto(`${server.server.httpUrl}/#${hash}`);
      await page.locator(ready).first().waitFor();
      await page.waitForTimeout(400);
      const file = path.join(OUT, `${name}.png`);
      await page.screenshot({ path: file });
      console.log(`wrote ${path.relative(process.cwd(), file)}`);
      await page.close();
    }
  } finally {
    await browser.close();
    const dataDir = server.dataDir;
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await ollama.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});

/**
 * The web app in a real browser (Debian's Chromium through playwright-core) against the real server
 * and the fake Ollama: the catalogue, a streamed chat, two pages watching one group conversation, an
 * avatar upload, a scene reaching the prompt, forgetting a memory, voice input and read-aloud (what the
 * browser offers stood in for by init scripts), the stored mood and energy charts, and an accessibility
 * check (axe-core) of every screen. One browser and one context serve the file; each test opens its own
 * tabs (each tab its own session), so the tests stay independent. Without Chromium (a developer machine
 * without `apt-get install chromium`) the file is skipped with a note; under CI it must run.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { hasChromium, launchChromium } from '../helpers/browser.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const isAvailable = hasChromium();
if (!isAvailable && process.env.CI) throw new Error('Chromium is missing: .ci/run installs it with `apt-get install -y chromium`.');
if (!isAvailable) console.warn('test/browser skipped: install Chromium (`apt-get install -y chromium`) to run the browser tests.');

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

let ollama: FakeOllama;
let server: TestServer;
let browser: Browser;
let context: BrowserContext;

/** Persona chat requests (memory and relationship jobs also reach the fake). */
function personaPrompts(): string[] {
  return ollama.requests.map((request) => request.body.messages?.[0]?.content ?? '').filter((content) => content.includes('Stay in character'));
}

/**
 * A new tab at `path`, connected. `init` runs in the page before any of the app's scripts (through the
 * DevTools protocol, so the app's CSP does not apply): it stands in for what a browser offers or lacks.
 */
async function open(path: string, options: { init?: () => void; beforeLoad?: (page: Page) => Promise<void> } = {}): Promise<Page> {
  // One context for the file; each page (tab) has its own sessionStorage, so its own session.
  const page = await context.newPage();
  if (options.init !== undefined) await page.addInitScript(options.init);
  await options.beforeLoad?.(page);
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  (page as Page & { errors: string[] }).errors = errors;
  await page.goto(`${server.server.httpUrl}/#${path}`);
  await page.getByText('Connected', { exact: true }).waitFor();
  return page;
}

/** Serious and critical accessibility violations on the page as it is now. */
async function axeViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern (no inline script is added).
  await page.evaluate(axeSource);
  const result = (await page.evaluate(
    "axe.run(document, { resultTypes: ['violations'], runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })",
  )) as { violations: { id: string; impact: string; nodes: { target: string[] }[] }[] };
  return result.violations
    .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
    .map((violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`);
}

// Generous limits: a browser on a busy two-core machine is slow to start and to lay out pages.
describe.skipIf(!isAvailable)('the web app in Chromium', { timeout: 60_000 }, () => {
  beforeAll(async () => {
    // The browser starts while the servers do.
    [browser, server] = await Promise.all([
      launchChromium(),
      startFakeOllama().then((fake) => {
        ollama = fake;
        return startTestServer({ ollamaUrl: fake.url, flags: { 'social.groupTurnDelayMs': 100 } });
      }),
    ]);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
    await ollama?.close();
  });

  it('lists Aria and Kira with avatars, mood and energy, with no serious accessibility problem', async () => {
    const page = await open('/gallery');
    const cards = page.locator('li.card');
    await expect.poll(() => cards.count()).toBe(2);
    expect(await cards.locator('h2').allTextContents()).toEqual(['Aria', 'Kira']);
    expect(await page.locator('li[data-persona="aria"] img.avatar').getAttribute('src')).toBe('/avatars/aria.svg');
    await page.locator('li[data-persona="aria"] .badge.mood').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    await page.close();
  });

  it('chats with Aria and shows the reply as it streams, then its continue score and tokens', async () => {
    ollama.setMode('slow');
    ollama.chunkDelayMs = 80;
    ollama.setReply('Well met, traveller, sit by the fire and tell me your tale.');
    try {
      const page = await open('/chat/aria');
      await page.getByLabel('Message', { exact: true }).fill('Hello Aria!');
      await page.getByLabel('Message', { exact: true }).press('Enter');
      const reply = page.locator('li.message.from-persona').last();
      // Part of the reply is on screen while the rest is still being generated.
      await expect.poll(async () => (await reply.locator('.text').textContent()) ?? '', { timeout: 5000 }).toMatch(/^Well met/);
      expect(await reply.locator('.figures').count()).toBe(0);
      await reply.locator('.figures').waitFor({ timeout: 10_000 });
      expect(await reply.locator('.text').textContent()).toBe('Well met, traveller, sit by the fire and tell me your tale.');
      expect(await reply.locator('.figures').textContent()).toMatch(/continue \d+\/100 .* \d+ tokens/);
      expect(await axeViolations(page)).toEqual([]);
      await page.close();
    } finally {
      ollama.setMode('normal');
      ollama.setReply((body) => `${/You are (\w+)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Someone'} says: a fine point.`);
    }
  });

  it('sets a scene in the app and the next prompt the model gets contains it', async () => {
    const page = await open('/chat/kira');
    await page.getByLabel('Message', { exact: true }).fill('Good evening, Kira.');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await page.locator('li.message.from-persona .figures').waitFor();
    await page.getByRole('button', { name: 'Set the scene' }).click();
    await page.getByLabel('Location').fill('the observatory tower');
    await page.getByLabel('Time of day').fill('just before dawn');
    await page.getByRole('button', { name: 'Save scene' }).click();
    await page.getByTestId('scene-view').getByText('the observatory tower').waitFor();
    await page.getByLabel('Message', { exact: true }).fill('What can you see?');
    await page.getByLabel('Message', { exact: true }).press('Enter');
    await expect.poll(() => page.locator('li.message.from-persona .figures').count()).toBe(2);
    expect(personaPrompts().at(-1)).toContain('The scene: the observatory tower, just before dawn.');
    await page.close();
  });

  it('shows every turn of one group conversation on two pages watching it', async () => {
    const first = await open('/group');
    // Exact names: the avatar beside each name is decorative, so a screen reader hears "Aria", once.
    await first.getByRole('checkbox', { name: 'Aria', exact: true }).check();
    await first.getByRole('checkbox', { name: 'Kira', exact: true }).check();
    await first.getByLabel('Topic').fill('the oldest song in the world');
    await first.getByLabel('Turns at most').fill('4');
    await first.getByRole('button', { name: 'Start the conversation' }).click();
    await first.waitForURL(/#\/group\/conv_/);
    const conversationId = first.url().split('/').at(-1)!;
    const second = await open(`/group/${conversationId}`);
    const ids = (page: Page) => page.locator('ol.log li.message').evaluateAll((items) => items.map((item) => item.getAttribute('data-message-id')));
    await expect.poll(async () => (await first.getByTestId('group-status').textContent()) ?? '', { timeout: 15_000 }).toBe('finished');
    await expect.poll(async () => (await ids(second)).length, { timeout: 5000 }).toBe(4);
    expect(await ids(first)).toEqual(await ids(second));
    // The end reason in words, also on a page opened after the end.
    const third = await open(`/group/${conversationId}`);
    for (const page of [second, third]) {
      await expect.poll(() => page.locator('p.notice', { hasText: 'ended' }).textContent()).toBe('The conversation ended: it reached its turn limit.');
    }
    await third.close();
    expect(await axeViolations(second)).toEqual([]);
    await first.close();
    await second.close();
  });

  it('uploads an avatar that then shows in the gallery', async () => {
    const page = await open('/gallery');
    const picture = await sharp({ create: { width: 300, height: 300, channels: 3, background: '#3070c0' } }).png().toBuffer();
    await page.getByLabel('Upload an avatar for Aria').setInputFiles({ name: 'aria.png', mimeType: 'image/png', buffer: picture });
    await expect.poll(() => page.locator('li[data-persona="aria"] img.avatar').getAttribute('src')).toMatch(/^\/media\/[0-9a-f]{64}$/);
    // decode() waits for the picture to load (reading `complete` at once raced the load) and fails on a broken one.
    const loaded = await page.locator('li[data-persona="aria"] img.avatar').evaluate(async (image) => {
      const picture = image as unknown as { decode(): Promise<void>; naturalWidth: number };
      await picture.decode();
      return picture.naturalWidth > 0;
    });
    expect(loaded).toBe(true);
    await page.close();
  });

  it('forgets a memory after the confirmation step', async () => {
    const client = await server.connect();
    await client.result('memory.store', { persona_id: 'kira', content: 'The visitor lives at 12 Lantern Street.', importance: 0.8 });
    await client.result('memory.store', { persona_id: 'kira', content: 'The visitor likes star charts.', importance: 0.6 });
    const page = await open('/memory/kira');
    await page.getByText('The visitor lives at 12 Lantern Street.').waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.getByLabel('Search or describe what to forget').fill('Lantern Street address');
    await page.getByRole('button', { name: 'Forget…' }).click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    // Ticked at first: only the matches that contain the words given (the server may list near neighbours).
    const ticked = await dialog.getByRole('checkbox', { checked: true }).evaluateAll((boxes) => boxes.map((box) => box.parentElement?.textContent ?? ''));
    expect(ticked).toEqual(['The visitor lives at 12 Lantern Street.']);
    await dialog.getByRole('button', { name: /Yes, forget 1/ }).click();
    await page.getByText('Forgot 1 memory.').waitFor();
    const left = await client.result('memory.list', { persona_id: 'kira' });
    const contents = left.memories.map((memory: any) => memory.content);
    expect(contents).toContain('The visitor likes star charts.');
    expect(contents.filter((content: string) => content.includes('Lantern Street'))).toEqual([]);
    await page.close();
  });

  it('talks by voice where the browser offers it: a dictated message reaches the persona, and its reply is read aloud', async () => {
    ollama.setReply('The sea has a thousand songs, and I know three.');
    try {
      const page = await open('/chat/aria', {
        init: () => {
          // A browser whose speech recognition hears one sentence ...
          class HeardOnce {
            lang = '';
            interimResults = true;
            continuous = true;
            onresult: ((event: unknown) => void) | null = null;
            onend: (() => void) | null = null;
            onerror: ((event: unknown) => void) | null = null;
            start(): void {
              setTimeout(() => {
                this.onresult?.({ results: [[{ transcript: 'sing me the song of the sea' }]] });
                this.onend?.();
              }, 50);
            }
            stop(): void {
              this.onend?.();
            }
          }
          // (The page's own globals: this file is compiled without the DOM library.)
          const browserWindow = globalThis as unknown as { spoken: string[]; speechSynthesis: { speak(utterance: { text: string }): void } };
          Object.assign(browserWindow, { SpeechRecognition: HeardOnce, webkitSpeechRecognition: HeardOnce });
          // ... and whose speech synthesis records what the page asks it to say (headless Chromium has no voices).
          browserWindow.spoken = [];
          browserWindow.speechSynthesis.speak = (utterance) => void browserWindow.spoken.push(utterance.text);
        },
      });
      const message = page.getByLabel('Message', { exact: true });
      await message.fill('Please,');
      await page.getByRole('button', { name: 'Speak' }).click();
      // Appended to what was typed.
      await expect.poll(() => message.inputValue()).toBe('Please, sing me the song of the sea');
      await page.getByRole('button', { name: 'Send' }).click();
      const reply = page.locator('li.message.from-persona').last();
      await reply.locator('.figures').waitFor();
      const turn = ollama.requests.find((request) => request.body.messages?.[0]?.content?.includes('Stay in character') && request.body.messages.at(-1)?.content === 'Please, sing me the song of the sea');
      expect(turn).toBeDefined();

      await reply.getByRole('button', { name: 'Read aloud' }).click();
      await expect.poll(() => page.evaluate(() => (globalThis as unknown as { spoken: string[] }).spoken)).toEqual(['The sea has a thousand songs, and I know three.']);
      await reply.getByRole('button', { name: 'Stop reading' }).click();
      await reply.getByRole('button', { name: 'Read aloud' }).waitFor();
      // Only replies are read aloud, not what the person said.
      expect(await page.locator('li.message.from-user').getByRole('button', { name: 'Read aloud' }).count()).toBe(0);
      await page.close();
    } finally {
      ollama.setReply((body) => `${/You are (\w+)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Someone'} says: a fine point.`);
    }
  });

  it('says why there is no voice input where the browser lacks speech recognition or refuses the microphone', async () => {
    const without = await open('/chat/aria', {
      init: () => {
        const speaking = globalThis as unknown as Record<string, unknown>;
        delete speaking.SpeechRecognition;
        delete speaking.webkitSpeechRecognition;
      },
    });
    const speak = without.getByRole('button', { name: 'Speak' });
    expect(await speak.isDisabled()).toBe(true);
    expect(await speak.getAttribute('aria-describedby')).toBe('voice-unavailable');
    expect(await without.locator('#voice-unavailable').textContent()).toContain('needs a browser with speech recognition');
    expect(await axeViolations(without)).toEqual([]);
    await without.close();

    // The real thing: Debian's Chromium has the API, but here no microphone permission (it answers
    // "not-allowed") nor Google's speech service ("network"). Whatever it answers, the person is told.
    const refused = await open('/chat/aria');
    await refused.getByRole('button', { name: 'Speak' }).click();
    const told = refused.getByRole('status').filter({ hasText: /press Speak|type your message/ });
    await told.waitFor();
    expect(await told.textContent()).not.toContain('unknown error');
    await refused.getByRole('button', { name: 'Speak' }).waitFor();
    expect((refused as Page & { errors: string[] }).errors).toEqual([]);
    await refused.close();
  });

  it('charts the mood and energy the server stored (on open, after a reload, as new samples arrive, not while hidden) beside the relationship graph', async () => {
    const client = await server.connect();
    await client.result('emotional.update_state', { persona_id: 'kira', mood: 'melancholy', energy_level: 0.5 });
    await client.result('emotional.update_state', { persona_id: 'kira', mood: 'excited', energy_level: 0.9 });
    const stored = (await client.result('emotional.history', { persona_id: 'kira', limit: 2000 })).samples.length as number;
    // A clock the test can move: the charts ask for new samples every 10 s.
    const page = await open('/relations', { beforeLoad: (tab) => tab.clock.install() });
    const charts = page.getByTestId('mood-charts');
    await page.getByRole('button', { name: 'Kira', exact: true }).click();
    await expect.poll(() => charts.getAttribute('data-samples')).toBe(String(stored));
    await page.getByRole('img', { name: /^Mood over time: from \w+ at .* to excited now/ }).waitFor();
    await page.getByRole('img', { name: /^Social energy over time: from .* to 72 now/ }).waitFor();

    await page.reload();
    await page.getByText('Connected', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Kira', exact: true }).click();
    await expect.poll(() => charts.getAttribute('data-samples')).toBe(String(stored));

    await client.result('emotional.update_state', { persona_id: 'kira', mood: 'calm' });
    await page.clock.fastForward(10_000);
    await expect.poll(() => charts.getAttribute('data-samples')).toBe(String(stored + 1));
    await page.getByRole('img', { name: /^Mood over time: .* to calm now/ }).waitFor();
    await page.getByRole('img', { name: 'Relationship graph between the personas and you' }).waitFor();
    expect(await axeViolations(page)).toEqual([]);

    // A tab in the background asks nothing; shown again, it catches up at once.
    const setVisibility = (state: 'hidden' | 'visible') =>
      page.evaluate(
        `Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => '${state}' }); document.dispatchEvent(new Event('visibilitychange'))`,
      );
    await setVisibility('hidden');
    await client.result('emotional.update_state', { persona_id: 'kira', mood: 'excited' });
    await page.clock.fastForward(60_000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // room for a request that should not be made
    expect(await charts.getAttribute('data-samples')).toBe(String(stored + 1));
    await setVisibility('visible');
    await expect.poll(() => charts.getAttribute('data-samples')).toBe(String(stored + 2));
    await client.close();
    await page.close();
  });
});

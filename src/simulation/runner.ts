/**
 * Runs one scenario against a target through the public JSON-RPC API: sets the stage (personas,
 * relationships, moods, scene), plays the script and the timed events turn by turn, checks the stop
 * rules, samples moods and relationships after every turn, probes for private memory crossing between
 * users, and returns the record that assertions and reports are computed from.
 *
 * Group conversations are stepped one persona turn at a time (`conversation.resume {turns: 1}`), so an
 * event "at turn 4" happens exactly before the fifth turn, on every run.
 */
import type { RpcClient, RpcNotification } from '../cli/rpc-client.js';
import { durationMs, type Scenario, type ScenarioEvent, type ScenarioStep } from './scenario/schema.js';
import type { SimulationTarget } from './target.js';
import type { CrossoverProbe, PersonaInfo, SimulationRun, StateSample, ToldFact, TranscriptEntry } from './run-record.js';

export interface RunProgress {
  turn: number;
  maxTurns: number;
  /** The latest line, shortened. */
  line: string;
}

export interface RunOptions {
  file: string;
  onProgress?: (progress: RunProgress) => void;
  /** Longest wait for one persona turn (ms). Defaults to 5 minutes (a slow local model). */
  turnTimeoutMs?: number;
}

/** Energy share below which a persona counts as tired for the `all_tired` stop rule. */
export const TIRED_ENERGY = 0.3;
/** Group end reasons that mean the personas ended it themselves. */
const SELF_ENDINGS = new Set(['nobody_wants_to_continue', 'nobody_available']);

class StopRun extends Error {}

/** JSON-RPC code of `persona_not_found` (src/rpc/error-codes.ts; part of the documented wire contract). */
const PERSONA_NOT_FOUND = -32001;

interface PersonaWire {
  persona_id: string;
  name: string;
  description: string;
  speaking_style: string;
  example_lines: string[];
  personality_traits: Record<string, number>;
}

export async function runScenario(scenario: Scenario, target: SimulationTarget, options: RunOptions): Promise<SimulationRun> {
  return new ScenarioRun(scenario, target, options).run();
}

class ScenarioRun {
  private readonly transcript: TranscriptEntry[] = [];
  private readonly samples: StateSample[] = [];
  private readonly facts: ToldFact[] = [];
  private readonly personas: PersonaInfo[] = [];
  private readonly users: string[];
  private readonly connections = new Map<string, RpcClient>();
  private director!: RpcClient;
  /** Chat mode: (user, persona) → conversation id. */
  private readonly chats = new Map<string, string>();
  private group: { id: string; owner: string; present: Set<string> } | null = null;
  private turns = 0;
  private readonly wallStart = performance.now();
  private readonly realStart = Date.now();
  private readonly simStart: number;
  private endReason = 'script finished';
  private endedByItself = false;
  private isEnded = false;
  private readonly pendingEvents: Array<{ event: ScenarioEvent; index: number }>;
  private readonly turnNotifications: RpcNotification[] = [];
  /** How this server takes a scene, or null when it has no such method (the setting then joins the topic). */
  private sceneMethod: 'scene.set' | 'visual.update' | null = null;
  private notificationWaiter: (() => void) | null = null;

  constructor(
    private readonly scenario: Scenario,
    private readonly target: SimulationTarget,
    private readonly options: RunOptions,
  ) {
    this.users = scenario.users.map((user) => (typeof user === 'string' ? user : user.id));
    this.simStart = target.clock?.now() ?? Date.now();
    this.pendingEvents = scenario.events.map((event, index) => ({ event, index }));
  }

  async run(): Promise<SimulationRun> {
    let error: SimulationRun['error'] = null;
    let probes: CrossoverProbe[] = [];
    try {
      this.director = await this.target.connect(null);
      for (const user of this.users) this.connections.set(user, await this.target.connect(user));
      await this.setStage();
      await this.sample();
      for (const step of this.scenario.script) {
        if (this.isEnded) break;
        await this.runStep(step);
      }
      if (this.group !== null && !this.isEnded) await this.endGroup(this.endReason);
      probes = await this.probeCrossover();
    } catch (caught) {
      if (!(caught instanceof StopRun)) error = { message: caught instanceof Error ? caught.message : String(caught), turn: this.turns };
      else if (this.group !== null && !this.isEnded) await this.endGroup(this.endReason).catch(() => undefined);
      if (caught instanceof StopRun) probes = await this.probeCrossover().catch(() => []);
    } finally {
      for (const connection of [...this.connections.values(), this.director]) await connection?.close().catch(() => undefined);
    }
    return {
      scenario: this.scenario.name,
      file: this.options.file,
      mode: this.scenario.mode,
      target: this.target.label,
      startedAt: new Date(this.realStart).toISOString(),
      wallMs: Math.round(performance.now() - this.wallStart),
      simulatedMs: this.elapsedMs(),
      turns: this.turns,
      personas: this.personas,
      users: this.users,
      transcript: this.transcript,
      samples: this.samples,
      facts: this.facts,
      probes,
      endReason: error === null ? this.endReason : 'error',
      endedByItself: this.endedByItself,
      error,
      notes: [],
      unfiredEvents: this.pendingEvents.map(({ event, index }) => `events[${index}] at ${event.at.turn !== undefined ? `turn ${event.at.turn}` : `time ${String(event.at.time)}`}`),
      ...(this.target.cassetteCounts() === undefined ? {} : { cassettes: this.target.cassetteCounts()! }),
    };
  }

  // ---- setting the stage ----

  private async setStage(): Promise<void> {
    const discovery = await this.director.request<{ methods: Array<{ name: string }> }>('rpc.discover');
    const methods = new Set(discovery.methods.map((method) => method.name));
    this.sceneMethod = methods.has('scene.set') ? 'scene.set' : methods.has('visual.update') ? 'visual.update' : null;
    for (const entry of this.scenario.personas) {
      const wire = typeof entry === 'string' ? await this.getPersona(entry) : ((await this.getPersona(entry.id, true)) ?? (await this.createPersona(entry)));
      this.personas.push({
        id: wire!.persona_id,
        name: wire!.name,
        description: wire!.description,
        speakingStyle: wire!.speaking_style,
        exampleLines: wire!.example_lines,
        traits: wire!.personality_traits,
      });
    }
    for (const relation of this.scenario.relationships) {
      for (let index = 0; index < relation.interactions; index++) {
        await this.director.request('relationship.update', {
          persona1_id: this.personaId(relation.from),
          persona2_id: this.personaId(relation.to),
          interaction_quality: relation.quality,
          duration_minutes: 10,
          context: `scenario "${this.scenario.name}": starting relationship`,
          mutual: relation.mutual,
        });
      }
    }
    for (const [persona, mood] of Object.entries(this.scenario.moods)) {
      await this.director.request('emotional.update_state', { persona_id: this.personaId(persona), ...(typeof mood === 'string' ? { mood } : mood) });
    }
    if (this.scenario.mode === 'group') await this.startGroup();
    this.log('event', null, `Scenario "${this.scenario.name}" starts${this.scenario.setting ? `. Scene: ${this.scenario.setting}` : ''}`);
  }

  private async getPersona(ref: string, missingIsNull = false): Promise<PersonaWire | null> {
    try {
      return await this.director.request<PersonaWire>('persona.get', { persona_id: ref });
    } catch (error) {
      if (missingIsNull && (error as { code?: number }).code === PERSONA_NOT_FOUND) return null;
      throw new Error(`persona "${ref}": ${(error as Error).message}`, { cause: error });
    }
  }

  private async createPersona(entry: Exclude<Scenario['personas'][number], string>): Promise<PersonaWire> {
    return this.director.request<PersonaWire>('persona.create', entry as unknown as Record<string, unknown>);
  }

  /** The server id of a persona named in the scenario (by id or name, any case). */
  private personaId(ref: string): string {
    const lower = ref.toLowerCase();
    const persona = this.personas.find((candidate) => candidate.id === lower || candidate.name.toLowerCase() === lower);
    if (persona === undefined) throw new Error(`"${ref}" is not one of this scenario's personas (${this.personas.map((p) => p.id).join(', ')}).`);
    return persona.id;
  }

  private nameOf(personaId: string | null): string | null {
    return personaId === null ? null : (this.personas.find((persona) => persona.id === personaId)?.name ?? personaId);
  }

  private async startGroup(): Promise<void> {
    // A persona whose first appearance is a `join` is not there at the start.
    const latecomers = new Set<string>();
    const seen = new Set<string>();
    for (const action of [...this.scenario.script, ...this.scenario.events]) {
      for (const key of ['join', 'leave'] as const) {
        if (key in action) {
          const id = this.personaId((action as Record<string, string>)[key]!);
          if (!seen.has(id) && key === 'join') latecomers.add(id);
          seen.add(id);
        }
      }
    }
    const present = this.personas.map((persona) => persona.id).filter((id) => !latecomers.has(id));
    if (present.length < 2) throw new Error('A group needs at least two personas present at the start (the others may join later).');
    const owner = this.users[0]!;
    const connection = this.connections.get(owner)!;
    connection.onNotification((notification) => {
      if (!notification.method.startsWith('conversation.')) return;
      this.turnNotifications.push(notification);
      this.notificationWaiter?.();
    });
    const started = await connection.request<{ conversation_id: string }>('conversation.start', {
      personas: present,
      topic: this.groupTopic(),
      ...(this.scenario.token_budget === undefined ? {} : { token_budget: this.scenario.token_budget }),
      max_turns: Math.min(200, this.scenario.stop.max_turns),
      auto_run: false,
      subscribe: true,
    });
    this.group = { id: started.conversation_id, owner, present: new Set(present) };
    if (this.scenario.setting !== undefined) await this.setScene(this.scenario.setting, started.conversation_id, false);
  }

  // ---- the script ----

  private async runStep(step: ScenarioStep): Promise<void> {
    if ('run' in step) {
      const count = step.run === 'until_end' ? Number.POSITIVE_INFINITY : step.run;
      for (let index = 0; index < count && !this.isEnded; index++) await this.groupTurn();
      return;
    }
    if ('wait' in step) {
      await this.passTime(durationMs(step.wait));
      this.log('event', null, `${String(step.wait)} pass`);
      await this.fireDueEvents();
      await this.sample();
      return;
    }
    await this.act(step);
  }

  /** One action of a step or an event. */
  private async act(action: ScenarioStep | ScenarioEvent): Promise<void> {
    if ('say' in action) return this.userLine(action.say, action.user, action.to, null);
    if ('tell' in action) return this.userLine(action.tell, action.user, action.to, { id: action.fact, keywords: action.keywords });
    if ('join' in action) return this.changeMembership('join', this.personaId(action.join));
    if ('leave' in action) return this.changeMembership('leave', this.personaId(action.leave));
    if ('scene' in action) {
      await this.setScene(action.scene, this.group?.id ?? null, true);
      return;
    }
    if ('mood' in action) {
      const { persona, ...fields } = action.mood;
      await this.director.request('emotional.update_state', { persona_id: this.personaId(persona), ...fields });
      this.log('event', null, `${this.nameOf(this.personaId(persona))}'s mood is set: ${JSON.stringify(fields)}`);
      return;
    }
  }

  private async userLine(text: string, userRef: string | undefined, to: string | undefined, fact: { id: string; keywords: string[] | undefined } | null): Promise<void> {
    const user = this.userId(userRef);
    await this.checkStopRules();
    await this.fireDueEvents();
    if (this.isEnded) return;
    if (this.group !== null) {
      if (user !== this.group.owner) throw new Error(`In a group only its owner (the first user, "${this.group.owner}") can speak; "${user}" cannot.`);
      this.recordFact(fact, user, null, text);
      this.log('user', user, text, { user });
      await this.connections.get(user)!.request('conversation.interject', { conversation_id: this.group.id, message: text });
      return;
    }
    const personaId = this.personaId(to ?? this.personas[0]!.id);
    const conversationId = await this.chatConversation(user, personaId);
    this.recordFact(fact, user, personaId, text);
    this.log('user', user, text, { user });
    const sent = performance.now();
    const reply = await this.connections.get(user)!.request<{ response: string; continue_score: number }>(
      'persona.chat',
      { message: text, persona_id: personaId, conversation_id: conversationId, ...(this.scenario.token_budget === undefined ? {} : { token_budget: this.scenario.token_budget }) },
      { timeoutMs: this.options.turnTimeoutMs ?? 300_000 },
    );
    const latencyMs = performance.now() - sent;
    this.turns += 1;
    this.target.clock?.advance(this.scenario.clock.turn_seconds * 1000);
    this.log('persona', personaId, reply.response, { user, continueScore: reply.continue_score, latencyMs });
    await this.afterTurn();
  }

  private recordFact(fact: { id: string; keywords: string[] | undefined } | null, user: string, persona: string | null, text: string): void {
    if (fact === null) return;
    this.facts.push({ id: fact.id, user, persona, text, keywords: fact.keywords ?? defaultKeywords(text), turn: this.turns });
  }

  private userId(ref: string | undefined): string {
    if (ref === undefined) return this.users[0]!;
    if (!this.users.includes(ref)) throw new Error(`"${ref}" is not one of this scenario's users (${this.users.join(', ')}).`);
    return ref;
  }

  private async chatConversation(user: string, personaId: string): Promise<string> {
    const key = `${user}\u0000${personaId}`;
    const existing = this.chats.get(key);
    if (existing !== undefined) return existing;
    const context = [this.scenario.setting, this.scenario.topic].filter((part) => part !== undefined).join('\n');
    const started = await this.connections.get(user)!.request<{ conversation_id: string }>('conversation.start', {
      persona_id: personaId,
      ...(context.length > 0 ? { context } : {}),
    });
    this.chats.set(key, started.conversation_id);
    return started.conversation_id;
  }

  /** One persona turn of the group: the server chooses the speaker; we wait for its line (or the end). */
  private async groupTurn(): Promise<void> {
    await this.checkStopRules();
    await this.fireDueEvents();
    if (this.isEnded) return;
    const group = this.group!;
    const connection = this.connections.get(group.owner)!;
    this.turnNotifications.length = 0;
    const sent = performance.now();
    await connection.request('conversation.resume', { conversation_id: group.id, turns: 1 });
    const outcome = await this.nextGroupOutcome(group.id);
    const latencyMs = performance.now() - sent;
    for (const turn of outcome.turns) {
      this.turns += 1;
      this.target.clock?.advance(this.scenario.clock.turn_seconds * 1000);
      this.log('persona', turn.personaId, turn.content, { user: group.owner, latencyMs });
    }
    if (outcome.ended !== null) {
      this.isEnded = true;
      this.endReason = outcome.ended;
      this.endedByItself = SELF_ENDINGS.has(outcome.ended);
      this.log('event', null, `The conversation ended: ${outcome.ended}`);
    } else if (outcome.pausedReason !== null && outcome.turns.length === 0) {
      throw new Error(`The group paused without a turn: ${outcome.pausedReason}`);
    }
    if (outcome.turns.length > 0) await this.afterTurn();
  }

  /** Waits for the stepped turn to finish: the group pauses again after its turn, or the conversation ends. */
  private async nextGroupOutcome(conversationId: string): Promise<{ turns: Array<{ personaId: string; content: string }>; ended: string | null; pausedReason: string | null }> {
    const deadline = Date.now() + (this.options.turnTimeoutMs ?? 300_000);
    const turns: Array<{ personaId: string; content: string }> = [];
    let cursor = 0;
    for (;;) {
      while (cursor < this.turnNotifications.length) {
        const { method, params } = this.turnNotifications[cursor++]!;
        if (params.conversation_id !== conversationId) continue;
        if (method === 'conversation.turn') {
          const message = params.message as { role: string; persona_id: string | null; content: string };
          if (message.role === 'assistant' && message.persona_id !== null) turns.push({ personaId: message.persona_id, content: message.content });
        } else if (method === 'conversation.ended') {
          return { turns, ended: String(params.reason ?? 'ended'), pausedReason: null };
        } else if (method === 'conversation.group_status' && params.status === 'paused') {
          // An interjection just before this step woke the stepped group, which paused again at once
          // ("stepped", no turn); that notice may arrive only now. A step always ends after its turn.
          if (params.reason === 'stepped' && turns.length === 0) continue;
          return { turns, ended: null, pausedReason: String(params.reason ?? 'paused') };
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`No group turn within ${this.options.turnTimeoutMs ?? 300_000} ms.`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 1000));
        this.notificationWaiter = () => {
          clearTimeout(timer);
          this.notificationWaiter = null;
          resolve();
        };
      });
    }
  }

  private async changeMembership(change: 'join' | 'leave', personaId: string): Promise<void> {
    const group = this.group;
    if (group === null) throw new Error(`${change} needs mode: group.`);
    await this.connections.get(group.owner)!.request(`conversation.${change}`, { conversation_id: group.id, persona_id: personaId });
    if (change === 'join') group.present.add(personaId);
    else group.present.delete(personaId);
    this.log('event', null, `${this.nameOf(personaId)} ${change === 'join' ? 'joins' : 'leaves'}`);
  }

  /** The group's topic; the setting joins it when the server cannot take a scene. */
  private groupTopic(): string | null {
    const { topic, setting } = this.scenario;
    if (this.sceneMethod !== null || setting === undefined) return topic ?? setting ?? null;
    return (topic === undefined ? setting : `${topic} (${setting})`).slice(0, 500);
  }

  /** Sets the scene: `scene.set` where the server has it, else the older `visual.update`. */
  private async setScene(scene: string, conversationId: string | null, announce: boolean): Promise<void> {
    if (this.sceneMethod === null) {
      if (!announce) return; // the starting setting went into the topic or context instead
      throw new Error('This server has neither scene.set nor visual.update, so the scene cannot change; drop the scene step or update the server.');
    }
    const params =
      this.sceneMethod === 'scene.set'
        ? { ...(conversationId === null ? {} : { conversation_id: conversationId }), description: scene }
        : { type: 'scene', data: { ...(conversationId === null ? {} : { conversation_id: conversationId }), description: scene } };
    await (this.group === null ? this.director : this.connections.get(this.group.owner)!).request(this.sceneMethod, params);
    if (announce) this.log('event', null, `The scene changes: ${scene}`);
  }

  // ---- time, events, stop rules ----

  private elapsedMs(): number {
    return (this.target.clock?.now() ?? Date.now()) - this.simStart;
  }

  private async passTime(ms: number): Promise<void> {
    if (this.target.clock !== null) this.target.clock.advance(ms);
    else await new Promise((resolve) => setTimeout(resolve, ms));
  }

  private async fireDueEvents(): Promise<void> {
    for (;;) {
      const due = this.pendingEvents.findIndex(({ event }) =>
        event.at.turn !== undefined ? this.turns >= event.at.turn : this.elapsedMs() >= durationMs(event.at.time!),
      );
      if (due < 0 || this.isEnded) return;
      const [pending] = this.pendingEvents.splice(due, 1);
      await this.act(pending!.event);
    }
  }

  private async checkStopRules(): Promise<void> {
    const stop = this.scenario.stop;
    let reason: string | null = null;
    if (this.turns >= stop.max_turns) reason = `stop: max_turns ${stop.max_turns}`;
    else if (stop.max_time !== undefined && this.elapsedMs() >= durationMs(stop.max_time)) reason = `stop: max_time ${String(stop.max_time)}`;
    else if (stop.phrase !== undefined) {
      const phrase = stop.phrase.toLowerCase();
      if (this.transcript.some((entry) => entry.kind === 'persona' && entry.content.toLowerCase().includes(phrase))) reason = `stop: phrase "${stop.phrase}"`;
    }
    if (reason === null && stop.all_tired && this.turns > 0) {
      const latest = this.samples.at(-1);
      const moods = latest === undefined ? [] : Object.values(latest.moods);
      if (moods.length > 0 && moods.every((mood) => mood.energy_level < TIRED_ENERGY)) reason = 'stop: everyone is tired';
    }
    if (reason === null) return;
    this.endReason = reason;
    this.log('event', null, `Stopped (${reason})`);
    throw new StopRun(reason);
  }

  private async endGroup(reason: string): Promise<void> {
    const group = this.group!;
    await this.connections.get(group.owner)!.request('conversation.end', { conversation_id: group.id, reason: reason.slice(0, 200) }).catch(() => undefined);
    this.isEnded = true;
  }

  // ---- after each turn ----

  private async afterTurn(): Promise<void> {
    await this.settle();
    await this.sample();
    const last = this.transcript.at(-1);
    this.options.onProgress?.({ turn: this.turns, maxTurns: this.scenario.stop.max_turns, line: last === undefined ? '' : `${last.speakerName ?? ''}: ${last.content}` });
  }

  /**
   * Waits until the server's background work for the turn is done (LLM queue empty, no job pending),
   * so the next prompt is built from the same state on every run.
   */
  private async settle(): Promise<void> {
    const deadline = Date.now() + 120_000;
    let quietPolls = 0;
    while (Date.now() < deadline) {
      const status = await this.director.request<{ llm: { queue: { running: number; queued: number } | null }; jobs?: { due: number; running: number } | null }>(
        'system.status',
      );
      // Jobs scheduled for later (retry backoffs) are not work this turn left behind; older servers have no `jobs`.
      const busy = (status.llm.queue?.running ?? 0) + (status.llm.queue?.queued ?? 0) + (status.jobs?.due ?? 0) + (status.jobs?.running ?? 0);
      quietPolls = busy === 0 ? quietPolls + 1 : 0;
      if (quietPolls >= 2) return;
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  }

  private async sample(): Promise<void> {
    const moods: StateSample['moods'] = {};
    const relationships: StateSample['relationships'] = {};
    for (const persona of this.personas) {
      const state = await this.director.request<{ emotional_state: StateSample['moods'][string] }>('emotional.get_state', { persona_id: persona.id });
      const { mood, valence, arousal, stress_level, curiosity, energy_level } = state.emotional_state;
      moods[persona.id] = { mood, valence, arousal, stress_level, curiosity, energy_level };
      for (const other of this.personas) {
        if (other.id === persona.id) continue;
        const answer = await this.director.request<{ relationship: StateSample['relationships'][string] | null }>('relationship.get', {
          persona1_id: persona.id,
          persona2_id: other.id,
        });
        if (answer.relationship !== null) relationships[`${persona.id}→${other.id}`] = pickRelationship(answer.relationship);
      }
      for (const user of this.users) {
        const answer = await this.connections
          .get(user)!
          .request<{ relationship: StateSample['relationships'][string] | null }>('relationship.get', { persona1_id: persona.id })
          .catch(() => ({ relationship: null }));
        if (answer.relationship !== null) relationships[`${persona.id}→user:${user}`] = pickRelationship(answer.relationship);
      }
    }
    this.samples.push({ turn: this.turns, atMs: this.elapsedMs(), moods, relationships });
  }

  /** For each fact a user told, what every other user can find of it through memory search. */
  private async probeCrossover(): Promise<CrossoverProbe[]> {
    const probes: CrossoverProbe[] = [];
    if (!this.target.hasSeparateUsers || this.users.length < 2) return probes;
    await this.settle().catch(() => undefined);
    for (const fact of this.facts) {
      for (const other of this.users) {
        if (other === fact.user) continue;
        for (const persona of fact.persona === null ? this.personas.map((p) => p.id) : [fact.persona]) {
          const found = await this.connections
            .get(other)!
            .request<{ memories: Array<{ content: string }> }>('memory.search', { query: fact.text, persona_id: persona, n_results: 20 });
          const leaked = found.memories.map((memory) => memory.content).filter((content) => containsAll(content, fact.keywords));
          probes.push({ fact: fact.id, owner: fact.user, otherUser: other, persona, leakedMemories: leaked });
        }
      }
    }
    return probes;
  }

  private log(kind: TranscriptEntry['kind'], speaker: string | null, content: string, extra: Partial<TranscriptEntry> = {}): void {
    this.transcript.push({
      turn: this.turns,
      atMs: this.elapsedMs(),
      kind,
      speaker,
      speakerName: kind === 'persona' ? this.nameOf(speaker) : speaker,
      user: null,
      content,
      ...extra,
    });
  }
}

function pickRelationship(wire: StateSample['relationships'][string]): StateSample['relationships'][string] {
  const { affinity, trust, respect, intimacy, relationship_strength, relationship_type } = wire;
  return { affinity, trust, respect, intimacy, relationship_strength, relationship_type };
}

/** Whether `text` contains every keyword (case-insensitive). */
export function containsAll(text: string, keywords: readonly string[]): boolean {
  const lower = text.toLowerCase();
  return keywords.every((keyword) => lower.includes(keyword.toLowerCase()));
}

/**
 * Words that show a fact was recalled, when the scenario names none: its capitalised words (names,
 * not the first word of a sentence) and numbers; failing those, its longest word.
 */
export function defaultKeywords(fact: string): string[] {
  const words = fact.match(/[\p{L}\p{N}'-]+/gu) ?? [];
  const keywords = new Set<string>();
  words.forEach((word, index) => {
    const sentenceStart = index === 0 || /[.!?]\s*$/.test(fact.slice(0, fact.indexOf(word)).trimEnd().slice(-1));
    if (/\d/.test(word) || (/^\p{Lu}/u.test(word) && !sentenceStart && word !== 'I')) keywords.add(word);
  });
  if (keywords.size > 0) return [...keywords];
  const longest = [...words].sort((a, b) => b.length - a.length)[0];
  return longest === undefined ? [fact] : [longest];
}

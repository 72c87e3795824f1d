/**
 * Group conversations: several personas talk in the background, one turn at a time, until nobody
 * wants to continue or the turn cap is reached (DESIGN.md §1, issue 6 §4).
 *
 * This file is the lifecycle: start, the background runner (one per conversation), pause on errors,
 * resume, interjections, joining and leaving, the end, and each persona's memory of it. One turn —
 * choosing the speaker and generating its reply from what it witnessed — is `group-turns.ts`. State
 * lives in the store, so a running group resumes after a restart.
 */
import type { Logger } from 'pino';
import { DRAINED_ENERGY_SHARE, isDrained } from '../../domain/continue-score.js';
import { AppError } from '../../domain/errors.js';
import { energyShare, secondsUntilShare } from '../../domain/social-energy.js';
import { recollection, witnessed } from '../../domain/social/group-transcript.js';
import { estimateTokens } from '../../domain/tokens.js';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { GroupLease, GroupOwnership } from '../../ports/group-ownership.js';
import type { GroupMemberRecord, GroupRecord, GroupStatus, SocialStore } from '../../ports/social-store.js';
import type { ConversationRecord, MessageRecord, PersonaRecord, Store } from '../../ports/store.js';
import type { SessionBinding } from '../session-binding.js';
import type { ConversationService } from '../conversation-service.js';
import type { PersonaService } from '../persona-service.js';
import type { EmotionService } from '../social/emotion-service.js';
import type { RelationshipService } from '../social/relationship-service.js';
import type { TurnRunner } from '../turn-runner.js';
import type { TopicThreadService } from '../social/topic-thread-service.js';
import { GroupTurns, type GroupTurnSettings } from './group-turns.js';

/**
 * The group's own settings (`social.*`). The message limit, history length, model and context window
 * are the turn pipeline's live settings (`TurnRunner.settings`), shared with chats.
 */
export interface GroupSettings extends GroupTurnSettings {
  /** Persona turns after which a group ends (`turn_cap`). */
  maxTurns: number;
  /** Pause between turns, so people can follow (and interject). */
  turnDelayMs: number;
}

export interface GroupStatusChange {
  conversationId: string;
  status: GroupStatus;
  reason: string | null;
}

export interface GroupView {
  group: GroupRecord;
  conversation: ConversationRecord;
  members: GroupMemberRecord[];
  isRunning: boolean;
}

/** Why a group stopped, as `end_reason` / status reason. */
export const GROUP_END_REASONS = { turnCap: 'turn_cap' } as const;
/** The pause reason of a stepped group (`conversation.resume {turns}`) whose steps are taken. */
export const STEPPED_REASON = 'stepped';

/** The status reason of a group paused with `conversation.pause`. */
export const GROUP_PAUSED_BY_USER = 'paused by the user';

/** The persona chosen to speak next, with each present persona's wish to speak (`speakerDesire`). */
export interface SpeakerChosen {
  conversationId: string;
  personaId: string;
  mode: 'continue' | 'wind_down';
  desire: number;
  desires: Record<string, number>;
}

/**
 * Keeps a persona's own memory of a group conversation (long-term memory, private to it). `content` is
 * its account of what it witnessed.
 */
export type GroupRecollectionSink = (memory: { personaId: string; content: string; conversation: ConversationRecord }) => Promise<void>;

/** Messages read to write a recollection. */
const RECOLLECTION_MESSAGES = 200;

interface Runner {
  abort: AbortController;
  /**
   * Makes the runner look at its group again now (a resume, an interjection, a pause, a join): the wait
   * between turns ends at once. A wake that comes while the runner is not waiting (a turn's observers
   * still running, the next speaker being chosen) is remembered (`isWoken`) and skips the next wait.
   */
  wake: () => void;
  /** A wake came since the runner last read its group (see `wake`). */
  isWoken: boolean;
  /** Ends the wait between turns in progress, if any. */
  endWait: () => void;
  /** Drops the turn being prepared or generated, if any (the user spoke: choose again, hearing it). */
  interrupt: () => void;
  done: Promise<void>;
}

export class GroupConversationService {
  private readonly runners = new Map<string, Runner>();
  /** Stepped groups: persona turns left before pausing (in memory; a restart runs them freely). */
  private readonly stepsLeft = new Map<string, number>();
  private readonly listeners = new Set<(change: GroupStatusChange) => void>();
  private stopping = false;
  private readonly unsubscribe: () => void;
  private readonly unsubscribeRemote: () => void;
  private recollections: GroupRecollectionSink | null = null;

  private readonly turns: GroupTurns;
  private readonly speakerListeners = new Set<(change: SpeakerChosen) => void>();

  constructor(
    private readonly deps: {
      store: Store;
      social: SocialStore;
      personas: PersonaService;
      conversations: ConversationService;
      relationships: RelationshipService;
      emotions: EmotionService;
      threads: TopicThreadService;
      /** The one turn pipeline (its live settings: message limit, history length, model, context window). */
      turnRunner: TurnRunner;
      clock: Clock;
      events: EventBus;
      logger: Logger;
      settings: GroupSettings;
      /** With several nodes: which node runs each group (a lease); absent, this process runs them all. */
      ownership?: GroupOwnership;
    },
  ) {
    this.turns = new GroupTurns(deps);
    // A conversation ended from outside (conversation.end) stops its runner at once; an idle group finishes.
    this.unsubscribe = deps.events.subscribe((event) => {
      if (event.type !== 'conversationEnded') return;
      const runner = this.runners.get(event.conversationId);
      if (runner !== undefined) runner.abort.abort(new Error('conversation ended'));
      else void this.finishIdle(event.conversationId, event.reason);
    });
    // Ended through another node: this node's runner stops (and, as the owner, finishes the group).
    this.unsubscribeRemote = deps.events.subscribe(
      (event) => {
        if (event.type === 'conversationEnded') this.runners.get(event.conversationId)?.abort.abort(new Error('conversation ended'));
      },
      { fromOtherNodes: true },
    );
  }

  /** Where each persona's memory of a finished group goes (long-term memory); none by default. */
  rememberWith(sink: GroupRecollectionSink): void {
    this.recollections = sink;
  }

  /** Who was chosen to speak next, and how much each wanted to (for "who speaks next and why"). */
  onSpeakerChosen(listener: (change: SpeakerChosen) => void): () => void {
    this.speakerListeners.add(listener);
    return () => this.speakerListeners.delete(listener);
  }

  /**
   * Pauses a running group: the turn being generated finishes, then no persona speaks until
   * `resume` (or an interjection).
   */
  async pauseRunning(binding: SessionBinding, conversationId: string): Promise<GroupView> {
    const { group } = await this.activeGroup(binding, conversationId);
    if (group.status === 'running') await this.setStatus(group, 'paused', GROUP_PAUSED_BY_USER);
    this.runners.get(conversationId)?.wake();
    return this.view(binding, conversationId);
  }

  /** Status changes (running, paused, finished) for transports' notifications. Returns the unsubscribe function. */
  onStatusChange(listener: (change: GroupStatusChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Starts a conversation between the personas and its background turns. */
  async start(
    binding: SessionBinding,
    personas: PersonaRecord[],
    options: {
      topic: string | null;
      /** The scene or purpose, told to every persona with the topic. */
      context?: string | null | undefined;
      tokenBudget: number | null;
      maxTurns?: number | undefined;
      autoRun?: boolean | undefined;
      /** Called with the conversation id before the first turn can start (subscriptions). */
      beforeRun?: ((conversationId: string) => void) | undefined;
    },
  ): Promise<{ conversation: ConversationRecord; group: GroupRecord }> {
    if (options.autoRun ?? true) await this.refuseIfTooFewCanTalk(personas);
    const conversation = await this.deps.conversations.startBetweenPersonas(binding, personas, {
      topic: options.topic,
      context: options.context ?? null,
      tokenBudget: options.tokenBudget,
    });
    const now = this.deps.clock.now();
    for (const personaId of conversation.personaIds) {
      await this.deps.social.addMember({
        conversationId: conversation.id,
        personaId,
        joinedAfter: 0,
        leftAfter: null,
        joinedAt: now,
        leftAt: null,
      });
    }
    const autoRun = options.autoRun ?? true;
    const group: GroupRecord = {
      conversationId: conversation.id,
      status: autoRun ? 'running' : 'paused',
      maxTurns: options.maxTurns ?? this.deps.settings.maxTurns,
      turnDelayMs: this.deps.settings.turnDelayMs,
      statusReason: autoRun ? null : 'not started',
      updatedAt: now,
    };
    await this.deps.social.saveGroup(group);
    options.beforeRun?.(conversation.id);
    if (autoRun) this.launch(conversation.id);
    return { conversation, group };
  }

  /**
   * A group that starts running needs two personas who can talk: one resting on a cooldown, or drained
   * (below `DRAINED_ENERGY_SHARE` of its energy, so its continue decision is `end` whatever is said),
   * would leave the other a single turn before the group ends by itself. Says who cannot talk, for how
   * long, and how to restore them.
   */
  private async refuseIfTooFewCanTalk(personas: PersonaRecord[]): Promise<void> {
    const distinct = [...new Map(personas.map((persona) => [persona.id, persona])).values()];
    const now = this.deps.clock.now();
    const resting: Array<{ persona: PersonaRecord; cooldown: number; share: number; canTalkIn: number | null }> = [];
    for (const persona of distinct) {
      const { state, availability } = await this.deps.personas.snapshot(persona, { opensConversation: true });
      const share = energyShare(state, persona.socialEnergy);
      if (availability.isAvailable && !isDrained(share)) continue;
      const canTalkIn = secondsUntilShare(state, persona.socialEnergy, now, DRAINED_ENERGY_SHARE);
      resting.push({ persona, cooldown: availability.cooldownRemaining, share, canTalkIn });
    }
    if (resting.length === 0 || distinct.length - resting.length >= 2) return;
    const wait = (seconds: number | null): string => (seconds === null ? 'it does not recover by itself' : `${Math.max(1, Math.ceil(seconds / 60))} min left`);
    const who = resting
      .map(({ persona, cooldown, share, canTalkIn }) =>
        cooldown > 0
          ? `${persona.name} is resting (${wait(canTalkIn)})`
          : `${persona.name} is drained (${Math.round(share * 100)} % of its energy; ${wait(canTalkIn)})`,
      )
      .join(', ');
    throw new AppError(
      'conflict',
      `${who}; a group needs at least two personas who can talk. Start it later or with others; an admin (or the persona's owner, for a persona you created) can restore energy with emotional.update_state {"persona_id":"${resting[0]!.persona.id}","energy_level":1}.`,
      {
        data: {
          resting: resting.map(({ persona, cooldown, share, canTalkIn }) => ({
            persona_id: persona.id,
            cooldown_remaining: cooldown,
            energy_level: Math.round(share * 1000) / 1000,
            can_talk_in: canTalkIn,
          })),
        },
      },
    );
  }

  /** The check at the start, for a paused group about to run again: with one persona able to talk it would end after a turn. */
  private async refuseIfPresentCannotTalk(conversationId: string): Promise<void> {
    const present = (await this.deps.social.members(conversationId)).filter((member) => member.leftAfter === null);
    await this.refuseIfTooFewCanTalk(present.map((member) => this.deps.personas.find(member.personaId)).filter((persona) => persona !== null));
  }

  /** Restarts the runners of groups that were running when the server stopped. Returns how many. */
  async resumeRunning(): Promise<number> {
    let resumed = 0;
    for (const group of await this.deps.social.listGroups('running')) {
      // Already running here (a periodic sweep for groups whose node died calls this again).
      if (this.runners.has(group.conversationId)) continue;
      const conversation = await this.deps.store.getConversation(group.conversationId);
      if (conversation === null || conversation.status !== 'active') {
        await this.setStatus(group, 'finished', conversation?.endReason ?? 'conversation ended');
        continue;
      }
      this.launch(group.conversationId);
      resumed += 1;
    }
    return resumed;
  }

  /**
   * The user says something in the group; the next speaker hears it (a turn still being generated is
   * dropped and chosen again). A paused group runs again.
   */
  async interject(binding: SessionBinding, conversationId: string, content: string): Promise<MessageRecord> {
    const { conversation, group } = await this.activeGroup(binding, conversationId);
    this.deps.turnRunner.checkMessage(content, 'the group');
    // An interjection wakes a paused group: refused (nothing stored) when it could only end after a turn.
    if (group.status !== 'running') await this.refuseIfPresentCannotTalk(conversationId);
    const message = await this.deps.store.appendMessage({
      conversationId: conversation.id,
      role: 'user',
      personaId: null,
      content,
      tokens: estimateTokens(content),
      promptTokens: null,
      processingMs: null,
      createdAt: this.deps.clock.now(),
    });
    this.deps.events.publish({ type: 'messageStored', conversationId: conversation.id, message });
    // A turn still being generated did not hear this: it is dropped, and the next speaker is chosen hearing it.
    this.runners.get(conversation.id)?.interrupt();
    if (group.status !== 'running') await this.setStatus(group, 'running', null);
    this.launch(conversation.id);
    return message;
  }

  /**
   * Runs a paused group again (after an LLM failure, or one started with `auto_run: false`). With
   * `turns`, it takes that many persona turns and pauses again (reason {@link STEPPED_REASON}) —
   * stepping, for simulations and debugging; without, it runs freely again.
   */
  async resume(binding: SessionBinding, conversationId: string, turns?: number): Promise<GroupView> {
    const { group } = await this.activeGroup(binding, conversationId);
    if (group.status !== 'running') await this.refuseIfPresentCannotTalk(conversationId);
    if (turns === undefined) this.stepsLeft.delete(conversationId);
    else this.stepsLeft.set(conversationId, turns);
    if (group.status !== 'running') await this.setStatus(group, 'running', null);
    this.launch(conversationId);
    return this.view(binding, conversationId);
  }

  /** A persona joins: it hears only what is said from now on. */
  async join(binding: SessionBinding, conversationId: string, persona: PersonaRecord): Promise<GroupView> {
    const { conversation } = await this.activeGroup(binding, conversationId);
    const current = (await this.deps.social.members(conversation.id)).find((member) => member.personaId === persona.id);
    if (current !== undefined && current.leftAfter === null)
      throw new AppError('conflict', `${persona.name} is already in this conversation.`);
    const lastId = await this.deps.social.lastMessageId(conversation.id);
    await this.deps.social.addMember({
      conversationId: conversation.id,
      personaId: persona.id,
      joinedAfter: lastId,
      leftAfter: null,
      joinedAt: this.deps.clock.now(),
      leftAt: null,
    });
    this.runners.get(conversation.id)?.wake();
    return this.view(binding, conversationId);
  }

  /** A persona leaves: it keeps what it heard until now and hears nothing more. */
  async leave(binding: SessionBinding, conversationId: string, persona: PersonaRecord): Promise<GroupView> {
    const { conversation } = await this.activeGroup(binding, conversationId);
    const current = (await this.deps.social.members(conversation.id)).find(
      (member) => member.personaId === persona.id && member.leftAfter === null,
    );
    if (current === undefined) throw new AppError('conflict', `${persona.name} is not in this conversation.`);
    const leftAfter = await this.deps.social.lastMessageId(conversation.id);
    await this.deps.social.markLeft(conversation.id, persona.id, leftAfter, this.deps.clock.now());
    await this.remember(conversation, [{ ...current, leftAfter }]);
    return this.view(binding, conversationId);
  }

  async view(binding: SessionBinding, conversationId: string): Promise<GroupView> {
    const conversation = await this.deps.conversations.accessible(binding, conversationId);
    const group = await this.deps.social.getGroup(conversation.id);
    if (group === null) throw notAGroup(conversation.id);
    return { group, conversation, members: await this.deps.social.members(conversation.id), isRunning: this.runners.has(conversation.id) };
  }

  /** Whether the conversation is a group run by this service. */
  async isGroup(conversationId: string): Promise<boolean> {
    return (await this.deps.social.getGroup(conversationId)) !== null;
  }

  /** Resolves when the group's runner has stopped (tests, CLI). */
  async whenIdle(conversationId: string): Promise<void> {
    await this.runners.get(conversationId)?.done;
  }

  /** Stops every runner (shutdown); running groups stay `running` in the store and resume on the next start. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.unsubscribe();
    this.unsubscribeRemote();
    const running = [...this.runners.values()];
    for (const runner of running) runner.abort.abort(new Error('server shutting down'));
    await Promise.all(running.map((runner) => runner.done));
  }

  private async activeGroup(
    binding: SessionBinding,
    conversationId: string,
  ): Promise<{ conversation: ConversationRecord; group: GroupRecord }> {
    const conversation = await this.deps.conversations.accessible(binding, conversationId);
    const group = await this.deps.social.getGroup(conversation.id);
    if (group === null) throw notAGroup(conversation.id);
    if (conversation.status !== 'active') {
      throw new AppError(
        'conversation_not_found',
        `Conversation "${conversation.id}" has ended (${conversation.endReason ?? 'no reason given'}); start a new one with conversation.start.`,
        {
          data: { conversation_id: conversation.id },
        },
      );
    }
    return { conversation, group };
  }

  private launch(conversationId: string): void {
    if (this.stopping) return;
    const existing = this.runners.get(conversationId);
    if (existing !== undefined) {
      existing.wake();
      return;
    }
    const runner: Runner = {
      abort: new AbortController(),
      wake: () => {
        runner.isWoken = true;
        runner.endWait();
      },
      isWoken: false,
      endWait: () => {},
      interrupt: () => {},
      done: Promise.resolve(),
    };
    this.runners.set(conversationId, runner);
    runner.done = this.run(conversationId, runner)
      .catch((error: unknown) => this.deps.logger.error({ err: error, conversationId }, 'group conversation runner failed'))
      .finally(() => {
        if (this.runners.get(conversationId) === runner) this.runners.delete(conversationId);
        // Woken while it was returning (a resume right after it read its group as paused): it looks again.
        if (runner.isWoken && !runner.abort.signal.aborted) this.launch(conversationId);
      });
  }

  private async run(conversationId: string, runner: Runner): Promise<void> {
    // Yield once so that the request that launched the group is answered before the first turn starts.
    await new Promise((resolve) => setImmediate(resolve));
    // With several nodes, one runs the group: another node's live lease means nothing to do here.
    let lease: GroupLease | null = null;
    if (this.deps.ownership !== undefined) {
      lease = await this.deps.ownership.acquire(conversationId);
      if (lease === null) return;
      lease.lost.addEventListener('abort', () => runner.abort.abort(lease!.lost.reason), { once: true });
    }
    try {
      await this.runOwned(conversationId, runner);
    } finally {
      await lease?.release();
    }
  }

  private async runOwned(conversationId: string, runner: Runner): Promise<void> {
    const signal = runner.abort.signal;
    while (!signal.aborted) {
      // What woke the runner until now is seen by the reads below; a wake from here on skips the next wait.
      runner.isWoken = false;
      const conversation = await this.deps.store.getConversation(conversationId);
      const group = await this.deps.social.getGroup(conversationId);
      if (conversation === null || group === null || group.status !== 'running') return;
      if (conversation.status !== 'active') {
        await this.setStatus(group, 'finished', conversation.endReason);
        return;
      }
      // A stepped group (resume with `turns`) waits here once its steps are taken; interjections do not run it.
      if (this.stepsLeft.get(conversationId) === 0) {
        await this.setStatus(group, 'paused', STEPPED_REASON);
        return;
      }
      const turn = new AbortController();
      runner.interrupt = () => turn.abort(new Error('the user spoke'));
      try {
        const stats = await this.deps.store.conversationStats(conversationId);
        if (stats.turns >= group.maxTurns) {
          await this.finish(conversation, group, GROUP_END_REASONS.turnCap);
          return;
        }
        const recent = await this.deps.store.recentMessages(conversationId, this.deps.turnRunner.settings.historyMessages);
        const members = (await this.deps.social.members(conversationId)).filter((member) => member.leftAfter === null);
        const owner = await this.ownerBinding(conversation);
        const choice = await this.turns.choose(conversation, members, recent, owner);
        if (turn.signal.aborted) continue; // the user spoke meanwhile: choose again, hearing it
        if (choice.kind === 'speak') {
          for (const listener of this.speakerListeners) listener({ conversationId, personaId: choice.personaId, mode: choice.mode, desire: choice.desire, desires: choice.desires });
        }
        if (choice.kind === 'end') {
          await this.finish(conversation, group, choice.reason);
          return;
        }
        await this.turns.speak(conversation, members, recent, choice, owner, AbortSignal.any([signal, turn.signal]));
        const steps = this.stepsLeft.get(conversationId);
        if (steps !== undefined) {
          this.stepsLeft.set(conversationId, Math.max(0, steps - 1));
          if (steps <= 1) continue; // pause at once, without the delay between turns
        }
      } catch (error) {
        if (turn.signal.aborted && !signal.aborted) continue; // interrupted by an interjection: choose again at once
        if (signal.aborted) {
          const latest = await this.deps.store.getConversation(conversationId).catch(() => null);
          if (latest !== null && latest.status !== 'active')
            await this.setStatus(group, 'finished', latest.endReason).catch(() => undefined);
          return;
        }
        const reason = error instanceof Error ? error.message : String(error);
        this.deps.logger.warn({ err: error, conversationId }, 'group conversation paused');
        await this.setStatus(group, 'paused', reason);
        return;
      } finally {
        runner.interrupt = () => {};
      }
      await this.pause(group.turnDelayMs, runner);
    }
    // Stopped while waiting between turns: an ended conversation finishes its group now, not at the next start.
    if (!this.stopping) {
      const latest = await this.deps.store.getConversation(conversationId);
      const group = await this.deps.social.getGroup(conversationId);
      if (latest !== null && group !== null && latest.status !== 'active' && group.status !== 'finished')
        await this.setStatus(group, 'finished', latest.endReason);
    }
  }

  /** Waits `ms` between turns; a wake (remembered or new) or a stop ends the wait at once. */
  private pause(ms: number, runner: Runner): Promise<void> {
    if (runner.isWoken || runner.abort.signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        runner.endWait = () => {};
        runner.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      runner.endWait = done;
      runner.abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  private async finish(conversation: ConversationRecord, group: GroupRecord, reason: string): Promise<void> {
    await this.setStatus(group, 'finished', reason);
    try {
      await this.deps.conversations.end(conversation, reason);
    } catch (error) {
      // Ended meanwhile by the user: nothing left to do.
      if (!(error instanceof AppError && error.kind === 'conversation_not_found')) throw error;
    }
  }

  private async finishIdle(conversationId: string, reason: string): Promise<void> {
    // A group another node runs is finished by that node (its runner hears the end too).
    const lease = this.deps.ownership === undefined ? null : await this.deps.ownership.acquire(conversationId).catch(() => null);
    if (this.deps.ownership !== undefined && lease === null) return;
    try {
      const group = await this.deps.social.getGroup(conversationId);
      if (group !== null && group.status !== 'finished' && !this.stopping) await this.setStatus(group, 'finished', reason);
    } catch (error) {
      this.deps.logger.warn({ err: error, conversationId }, 'could not finish an ended group');
    } finally {
      await lease?.release();
    }
  }

  /** Each member (present, or the ones given) keeps its own account of what it witnessed. */
  private async remember(conversation: ConversationRecord, only?: GroupMemberRecord[]): Promise<void> {
    const sink = this.recollections;
    if (sink === null) return;
    const members = only ?? (await this.deps.social.members(conversation.id)).filter((member) => member.leftAfter === null);
    const recent = await this.deps.store.recentMessages(conversation.id, RECOLLECTION_MESSAGES);
    for (const member of members) {
      const content = recollection(member.personaId, witnessed(recent, member), (id) => this.persona(id)?.name ?? id, conversation.topic);
      if (content === null || this.persona(member.personaId) === null) continue;
      try {
        await sink({ personaId: member.personaId, content, conversation });
      } catch (error) {
        this.deps.logger.warn({ err: error, personaId: member.personaId }, 'could not keep the memory of a group conversation');
      }
    }
  }

  private async setStatus(group: GroupRecord, status: GroupStatus, reason: string | null): Promise<void> {
    const wasFinished = group.status === 'finished';
    await this.deps.social.saveGroup({ ...group, status, statusReason: reason, updatedAt: this.deps.clock.now() });
    if (status === 'finished' && !wasFinished) {
      const conversation = await this.deps.store.getConversation(group.conversationId);
      if (conversation !== null) await this.remember(conversation);
    }
    group.status = status;
    group.statusReason = reason;
    for (const listener of this.listeners) {
      try {
        listener({ conversationId: group.conversationId, status, reason });
      } catch (error) {
        this.deps.logger.error({ err: error }, 'group status listener failed');
      }
    }
  }

  /** The session the group was started in: its turns act for that session's user. */
  private async ownerBinding(conversation: ConversationRecord): Promise<SessionBinding> {
    const session = conversation.sessionId === null ? null : await this.deps.store.getSession(conversation.sessionId);
    return { id: conversation.sessionId ?? conversation.id, userId: session?.userId ?? null };
  }

  private persona(id: string): PersonaRecord | null {
    return this.deps.personas.find(id);
  }
}

function notAGroup(conversationId: string): AppError {
  return new AppError(
    'conflict',
    `Conversation "${conversationId}" is not a group conversation; start one with conversation.start {personas: [...]}.`,
    {
      data: { conversation_id: conversationId },
    },
  );
}

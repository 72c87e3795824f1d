/**
 * Topic threads of a conversation: files each stored message in a thread (detection rules in
 * `domain/social/topic-threads.ts`), opens explicit branches and goes back from them, and writes the
 * prompt section that brings the other threads back as short summaries while the recent turns carry the
 * current one.
 *
 * Messages are filed as they are stored (`listen` on the `messageStored` event), in the order they were
 * stored, so a `conversation.branch` that arrives right after a reply never catches that reply in the new
 * branch. A person's message is filed at once in the kept threads (the turn's prompt view reads them) and
 * written with the reply's filing, after the reply: one commit per turn, none before the model is asked.
 */
import { AppError } from '../../domain/errors.js';
import { addToVector, assignThread, hasReturnCue, messageWords, termVector, threadLabel, type ThreadDecision } from '../../domain/social/topic-threads.js';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { SocialStore, ThreadFiling, ThreadRecord } from '../../ports/social-store.js';
import type { MessageRecord, Store } from '../../ports/store.js';
import { afterIo } from '../after-io.js';

/** Other threads summarised in the prompt, most recently active first. */
export const MAX_THREAD_SUMMARIES = 3;
/** Characters of a thread's last message quoted in its summary. */
export const SUMMARY_QUOTE_CHARS = 160;
/** Lines of a thread recalled when the talk comes back to it. */
export const RECALLED_LINES = 4;
/**
 * Messages right before the newest always stay in the context window, whatever their thread: a topic
 * change is still an answer to what was just said.
 */
export const CONTINUITY_MESSAGES = 2;

/** Conversations whose threads are kept in memory (the most recently used); a forgotten one is read again. */
export const KEPT_CONVERSATIONS = 512;

/**
 * How long a person's message's filing waits to be written with the reply's; a reply that takes longer
 * (a real model generating) finds it written already. Readers of the stored threads (`settled`) and
 * `close` write it at once.
 */
export const UNWRITTEN_FILING_MS = 1_000;

/** Message → thread answers kept per conversation at most (a prompt's recent window is ~200 messages). */
const MAX_FILED_KEPT = 1_000;

/** A conversation's threads and its current thread, as the store holds them. */
interface ConversationThreads {
  threads: ThreadRecord[];
  currentId: number | null;
  /**
   * The thread of messages of the recent window (null: not filed, e.g. stored before threads existed):
   * those this service filed, and those a prompt view read; older ones are dropped as the window moves.
   */
  filed: Map<number, number | null>;
}

export class TopicThreadService {
  /** Filing is serialised per conversation so that two messages never race for the same centroid. */
  private readonly queues = new Map<string, Promise<unknown>>();
  /**
   * Each active conversation's threads (centroids parsed) and current thread, read once and kept up to
   * date by this service's own writes, the only writer of threads: filing a message (twice per chat
   * turn) and a turn's prompt view read them without a query or a JSON parse of every centroid. Not
   * kept when other nodes share the store (`sharedStore`): they file messages too.
   */
  private readonly kept = new Map<string, ConversationThreads>();
  /**
   * Filings decided and kept but not yet written, per conversation: a person's message, waiting for the
   * reply's filing (or {@link UNWRITTEN_FILING_MS}) to be written with it.
   */
  private readonly unwritten = new Map<string, { filings: ThreadFiling[]; timer: NodeJS.Timeout }>();
  /** Per conversation, the writes of filings kept already whose commit nobody waits for but `settled` ({@link writeBehind}). */
  private readonly writesBehind = new Map<string, Set<Promise<void>>>();
  /** Hears about filings written on their own (after {@link UNWRITTEN_FILING_MS}) or behind that failed. */
  private onWriteError: (error: unknown) => void = () => undefined;

  constructor(
    private readonly social: SocialStore,
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: { sharedStore?: boolean } = {},
  ) {}

  /** The conversation's threads and current thread: kept ones, else read from the store (and kept). */
  private async threadsOf(conversationId: string): Promise<ConversationThreads> {
    const kept = this.kept.get(conversationId);
    if (kept !== undefined) {
      // most recently used last, so the first key is the one to forget
      this.kept.delete(conversationId);
      this.kept.set(conversationId, kept);
      return kept;
    }
    const [threads, currentId] = await Promise.all([this.social.listThreads(conversationId), this.social.currentThreadId(conversationId)]);
    const read: ConversationThreads = { threads, currentId, filed: new Map() };
    if (this.options.sharedStore !== true && !this.kept.has(conversationId)) {
      if (this.kept.size >= KEPT_CONVERSATIONS) this.kept.delete(this.kept.keys().next().value as string);
      this.kept.set(conversationId, read);
    }
    return read;
  }

  /** Runs a write of the conversation's threads; a failed one drops what is kept (the store decides). */
  private async writing<T>(conversationId: string, write: () => Promise<T>, keep: (kept: ConversationThreads, result: T) => void): Promise<T> {
    let result: T;
    try {
      result = await write();
    } catch (error) {
      this.kept.delete(conversationId);
      throw error;
    }
    const kept = this.kept.get(conversationId);
    if (kept !== undefined) keep(kept, result);
    return result;
  }

  private createThread(conversationId: string, label: string, isBranch: boolean): Promise<ThreadRecord> {
    return this.writing(
      conversationId,
      async () => {
        await this.writtenBehind(conversationId);
        return this.social.createThread(conversationId, label, this.clock.now(), isBranch);
      },
      (kept, thread) => {
        kept.threads.push(thread);
        kept.currentId = thread.id;
      },
    );
  }

  private setCurrentThread(conversationId: string, threadId: number): Promise<void> {
    return this.writing(
      conversationId,
      async () => {
        await this.writtenBehind(conversationId);
        await this.social.setCurrentThread(conversationId, threadId);
      },
      (kept) => {
        kept.currentId = threadId;
      },
    );
  }

  /**
   * Files every message as it is stored (chat and group alike). `onError` hears about a message that could
   * not be filed; the conversation goes on without it. Returns the function that stops listening.
   */
  listen(events: EventBus, onError: (error: unknown) => void): () => void {
    this.onWriteError = onError;
    return events.subscribe((event) => {
      if (event.type === 'messageStored') (event.isRecovered === true ? this.fileRecovered(event.message) : this.fileMessage(event.message)).catch(onError);
      // a conversation started under an id used before (deleted since) has no threads yet; an import replaced them all
      else if (event.type === 'conversationStarted' || event.type === 'conversationEnded') this.kept.delete(event.conversationId);
      else if (event.type === 'stateImported') this.kept.clear();
    });
  }

  /**
   * Files the message in its thread; resolves with the decision taken once it is kept (a person's
   * message, written later with the reply's filing) or written (anything else, or not kept).
   */
  fileMessage(message: MessageRecord): Promise<ThreadDecision & { threadId: number }> {
    // A person's message is filed at once (the turn's prompt view waits for it); a reply once pending I/O
    // has had its turn, so the reply reaches its client first. Either way `settled` covers it from now on.
    return this.enqueue(message.conversationId, () => (message.role === 'user' ? this.file(message) : afterIo().then(() => this.file(message))));
  }

  /**
   * Files a message whose filing a crash may have taken (`messageStored` published again at start-up),
   * unless it was written before the crash: a person's message's filing is written on its own when the
   * reply takes longer than {@link UNWRITTEN_FILING_MS}. Resolves with the decision, or null when filed already.
   */
  fileRecovered(message: MessageRecord): Promise<(ThreadDecision & { threadId: number }) | null> {
    return this.enqueue(message.conversationId, async () => {
      const stored = await this.social.threadsOfMessages([message.id]);
      return stored.has(message.id) ? null : this.file(message);
    });
  }

  /** Runs `work` after everything queued for the conversation so far (filings are serialised per conversation). */
  private enqueue<T>(conversationId: string, work: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(conversationId) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(work);
    this.queues.set(conversationId, next);
    void next
      .finally(() => {
        if (this.queues.get(conversationId) === next) this.queues.delete(conversationId);
      })
      .catch(() => undefined);
    return next;
  }

  /**
   * Waits until every message handed to `fileMessage` so far is filed in the kept threads (what a turn's
   * prompt view reads); a person's message may not be written yet.
   */
  async filed(conversationId: string): Promise<void> {
    await this.queues.get(conversationId)?.catch(() => undefined);
  }

  /** Waits until every message handed to `fileMessage` so far is filed and written (readers of the stored threads). */
  async settled(conversationId: string): Promise<void> {
    await this.filed(conversationId);
    if (this.unwritten.has(conversationId)) await this.enqueue(conversationId, () => this.writeFilings(conversationId, [], true)).catch(() => undefined);
    await this.writtenBehind(conversationId);
  }

  /** Writes the filings still waiting (the server is closing). */
  async close(): Promise<void> {
    await Promise.all([...new Set([...this.unwritten.keys(), ...this.writesBehind.keys()])].map((conversationId) => this.settled(conversationId)));
  }

  private async file(message: MessageRecord): Promise<ThreadDecision & { threadId: number }> {
    const { conversationId } = message;
    const { threads, currentId } = await this.threadsOf(conversationId);
    const words = messageWords(message.content);
    const vector = termVector(message.content, words);
    const current = threads.find((thread) => thread.id === currentId);
    const decision = assignThread(vector, threads, currentId, {
      fromUser: message.role === 'user',
      hasReturnCue: message.role === 'user' && hasReturnCue(message.content, words),
      // a reply landing in a branch nobody has spoken in yet was being generated when the branch opened
      answersThreadId:
        message.role === 'assistant' && current?.isBranch === true && current.messageCount === 0
          ? await this.threadOfPrevious(message)
          : null,
    });
    let thread: ThreadRecord | undefined;
    // A detected thread holding no message is one whose first filing a crash took (the thread is written at
    // once, the filing with the reply's): the message it was opened for, filed again now, goes back into it.
    const unfilled = current !== undefined && !current.isBranch && current.messageCount === 0 ? current : undefined;
    if (decision.kind === 'new') thread = unfilled ?? (await this.createThread(conversationId, threadLabel(vector), false));
    else thread = threads.find((candidate) => candidate.id === decision.threadId);
    if (thread === undefined) throw new Error(`thread ${JSON.stringify(decision)} vanished`);
    const filed = thread;
    // In place: a write that fails drops the kept threads, so the store's centroid is read again.
    const centroid = addToVector(filed.centroid, vector);
    // A branch keeps the name it was given; detected threads are named after their words.
    const filing: ThreadFiling = { messageId: message.id, threadId: filed.id, centroid, label: filed.isBranch ? filed.label : threadLabel(centroid), now: this.clock.now() };
    const kept = this.kept.get(conversationId);
    if (kept !== undefined) {
      // Kept as filed now (this service is the only writer, so the count is the store's to be): the next
      // filing and the next turn's prompt view read it at once. A person's message is written with the
      // reply's filing; the reply's write is committed with the reply's other writes, and nothing but the
      // readers of the stored threads (`settled`) waits for that commit.
      keepFiling(kept, filing, filed.messageCount + 1);
      if (message.role === 'user') this.holdUnwritten(conversationId, filing);
      else this.writeBehind(conversationId, this.writeFilings(conversationId, [filing], true));
    } else {
      await this.writeFilings(conversationId, [filing]);
    }
    // filed with what it answers, the reply leaves the user's new branch current
    if (decision.kind === 'answer' && currentId !== null) await this.setCurrentThread(conversationId, currentId);
    return { ...decision, threadId: filed.id };
  }

  /** Keeps a filing to write later, with the next one or after {@link UNWRITTEN_FILING_MS}. */
  private holdUnwritten(conversationId: string, filing: ThreadFiling): void {
    const held = this.unwritten.get(conversationId);
    if (held !== undefined) {
      held.filings.push(filing);
      return;
    }
    const timer = setTimeout(() => {
      this.enqueue(conversationId, () => this.writeFilings(conversationId, [], true)).catch(this.onWriteError);
    }, UNWRITTEN_FILING_MS);
    // a filing waiting never keeps the process alive (close writes it)
    timer.unref();
    this.unwritten.set(conversationId, { filings: [filing], timer });
  }

  /**
   * Writes the conversation's held filings and `filings` in one transaction (nothing when there are none).
   * `isKept`: `filings` are in the kept threads already, as held ones are; the kept threads may have moved
   * on by the time the write is committed, so they are left as they are (a failed write drops them).
   */
  private async writeFilings(conversationId: string, filings: ThreadFiling[], isKept = false): Promise<void> {
    const held = this.unwritten.get(conversationId);
    if (held !== undefined) {
      clearTimeout(held.timer);
      this.unwritten.delete(conversationId);
    }
    const all = held === undefined ? filings : [...held.filings, ...filings];
    if (all.length === 0) return;
    await this.writing(
      conversationId,
      () => this.social.fileInThreads(all),
      (kept, counts) => {
        if (!isKept) all.forEach((filing, index) => keepFiling(kept, filing, counts[index] ?? 0));
      },
    );
  }

  /**
   * A filing's write that the conversation's next filing does not wait for: `settled` does, and so does a
   * thread write of the conversation that is not batched (`createThread`, `setCurrentThread`), so that the
   * store's current thread is set in the order the filings were made. A failure reaches `listen`'s `onError`.
   */
  private writeBehind(conversationId: string, written: Promise<void>): void {
    let writes = this.writesBehind.get(conversationId);
    if (writes === undefined) this.writesBehind.set(conversationId, (writes = new Set()));
    const tracked = written.catch((error: unknown) => this.onWriteError(error));
    writes.add(tracked);
    void tracked.finally(() => {
      writes.delete(tracked);
      if (writes.size === 0 && this.writesBehind.get(conversationId) === writes) this.writesBehind.delete(conversationId);
    });
  }

  /** Waits for the conversation's filings written behind (see {@link writeBehind}). */
  private async writtenBehind(conversationId: string): Promise<void> {
    const writes = this.writesBehind.get(conversationId);
    if (writes !== undefined) await Promise.all(writes);
  }

  /** The thread of the latest message filed before this one, if any (a held filing counts). */
  private async threadOfPrevious(message: MessageRecord): Promise<number | null> {
    let previous: { id: number; threadId: number } | null = null;
    const held = this.unwritten.get(message.conversationId)?.filings ?? [];
    const stored = await this.social.threadOfMessages(message.conversationId);
    for (const [id, threadId] of [...stored, ...held.map((filing): [number, number] => [filing.messageId, filing.threadId])])
      if (id < message.id && (previous === null || id > previous.id)) previous = { id, threadId };
    return previous?.threadId ?? null;
  }

  /** Opens an explicit thread (`conversation.branch`); it takes the next messages until the user returns. */
  async branch(conversationId: string, label: string | null): Promise<ThreadRecord> {
    await this.settled(conversationId);
    return this.createThread(conversationId, label?.trim() || 'new branch', true);
  }

  /**
   * Makes an earlier thread current again (`conversation.branch {"back": true}` or `{"thread_id": …}`):
   * `'previous'` is the most recently active thread other than the current one — the one a branch was
   * opened from.
   */
  async returnTo(conversationId: string, target: number | 'previous'): Promise<ThreadRecord> {
    await this.settled(conversationId);
    const { threads, currentId } = await this.threadsOf(conversationId);
    const thread =
      target === 'previous'
        ? threads.filter((candidate) => candidate.id !== currentId).sort((a, b) => b.lastActiveAt - a.lastActiveAt || b.id - a.id)[0]
        : threads.find((candidate) => candidate.id === target);
    if (thread === undefined) {
      const known = threads.map((candidate) => `${candidate.id} (${candidate.label})`).join(', ');
      throw new AppError(
        'conflict',
        target === 'previous'
          ? `Conversation "${conversationId}" has no earlier thread to go back to; conversation.threads lists its threads.`
          : `Conversation "${conversationId}" has no thread ${target}. Its threads: ${known || 'none yet'}.`,
        { data: { conversation_id: conversationId } },
      );
    }
    await this.setCurrentThread(conversationId, thread.id);
    return thread;
  }

  /** The conversation's threads as stored, once every message handed in so far is filed. */
  async list(conversationId: string): Promise<ThreadRecord[]> {
    await this.settled(conversationId);
    return this.social.listThreads(conversationId);
  }

  async current(conversationId: string): Promise<number | null> {
    await this.settled(conversationId);
    return this.social.currentThreadId(conversationId);
  }

  /**
   * What a turn's prompt takes from the threads, from one read of the recent window's threads:
   * `section` — "Earlier in this conversation you also talked about: …" with the label and last words of
   * up to {@link MAX_THREAD_SUMMARIES} other threads (and the recall of a thread the talk comes back to),
   * or "" when there are none; `excludeMessageIds` — the recent messages of other threads, to leave out
   * of the context window (DESIGN: the current thread plus summaries of the others; the last
   * {@link CONTINUITY_MESSAGES} before the newest stay). Reads only the threads of `recent` and the
   * newest message of the summarised threads, never every filed message of the conversation.
   */
  async promptView(conversationId: string, recent: readonly MessageRecord[]): Promise<{ section: string; excludeMessageIds: number[] }> {
    const { threads, currentId } = await this.threadsOf(conversationId);
    if (currentId === null && threads.length === 0) return { section: '', excludeMessageIds: [] };
    // One thread, the current one (a conversation that never changed topic): every filed message of the
    // window is in it, so nothing is left out and there is no other thread to summarise; the window's
    // threads are not looked up (a walk of its ~200 messages and as many map reads on every turn).
    if (threads.length === 1 && threads[0]!.id === currentId) return { section: '', excludeMessageIds: [] };
    const byMessage = await this.threadsOfRecent(conversationId, recent);
    const older = recent.slice(0, Math.max(0, recent.length - 1 - CONTINUITY_MESSAGES));
    const excludeMessageIds =
      currentId === null
        ? []
        : older.filter((message) => byMessage.has(message.id) && byMessage.get(message.id) !== currentId).map((message) => message.id);
    const others = threads
      .filter((thread) => thread.id !== currentId)
      .sort((a, b) => b.lastActiveAt - a.lastActiveAt || b.id - a.id)
      .slice(0, MAX_THREAD_SUMMARIES);
    if (others.length === 0) return { section: '', excludeMessageIds };
    const current = threads.find((thread) => thread.id === currentId);
    const recall = current === undefined ? '' : this.recallOnReturn(current, recent, byMessage);
    const lastInWindow = new Map<number, MessageRecord>();
    for (const message of recent) {
      const threadId = byMessage.get(message.id);
      if (threadId !== undefined) lastInWindow.set(threadId, message);
    }
    const outside = others.filter((thread) => !lastInWindow.has(thread.id)).map((thread) => thread.id);
    const newest = await this.social.newestMessageOfThreads(outside);
    const lines: string[] = [];
    for (const thread of others) {
      const newestId = newest.get(thread.id);
      const last = lastInWindow.get(thread.id) ?? (newestId === undefined ? null : await this.messageById(conversationId, newestId));
      const quote = last === null ? '' : ` (last said: "${truncate(last.content, SUMMARY_QUOTE_CHARS)}")`;
      lines.push(`- ${thread.label}: ${thread.messageCount} message(s)${quote}`);
    }
    const summary = `Earlier in this conversation you also talked about:\n${lines.join('\n')}`;
    return { section: recall.length === 0 ? summary : `${recall}\n\n${summary}`, excludeMessageIds };
  }

  /**
   * message id → thread id for the recent window: from memory for the messages filed or read before
   * (with a kept conversation), from the store for the others. Not-filed answers are kept only when no
   * filing of the conversation is pending (one in progress would file such a message a moment later).
   */
  private async threadsOfRecent(conversationId: string, recent: readonly MessageRecord[]): Promise<Map<number, number>> {
    const kept = this.kept.get(conversationId);
    if (kept === undefined) return this.social.threadsOfMessages(recent.map((message) => message.id));
    // One walk of the window when every message is known (a turn's usual case: its messages were filed here).
    const walked = walkWindow(recent, kept.filed);
    const { unknown, oldest } = walked;
    let { byMessage } = walked;
    if (unknown.length > 0) {
      const isSettled = !this.queues.has(conversationId);
      const read = await this.social.threadsOfMessages(unknown);
      for (const id of unknown) {
        const threadId = read.get(id);
        if (threadId !== undefined || isSettled) kept.filed.set(id, threadId ?? null);
      }
      // filings may have landed meanwhile: the window's map is made again from what is kept now
      byMessage = walkWindow(recent, kept.filed).byMessage;
    }
    // the window only moves forward: what fell out of it is not asked again
    for (const id of kept.filed.keys()) if (id < oldest) kept.filed.delete(id);
    return byMessage;
  }

  /** Recent messages of other topic threads, to leave out of the context window (see {@link promptView}). */
  async otherThreadMessageIds(conversationId: string, recent: readonly MessageRecord[]): Promise<number[]> {
    return (await this.promptView(conversationId, recent)).excludeMessageIds;
  }

  /** The prompt section about the other threads (see {@link promptView}). */
  async contextSection(conversationId: string, recent: readonly MessageRecord[]): Promise<string> {
    return (await this.promptView(conversationId, recent)).section;
  }

  /**
   * When the newest message takes the talk back to an earlier thread (the message before it was in
   * another one), the last {@link RECALLED_LINES} lines of that thread, so its context comes back.
   */
  private recallOnReturn(current: ThreadRecord, recent: readonly MessageRecord[], byMessage: Map<number, number>): string {
    const newest = recent.at(-1);
    const previous = recent.at(-2);
    if (newest === undefined || previous === undefined || byMessage.get(newest.id) !== current.id) return '';
    if (byMessage.get(previous.id) === current.id) return '';
    const earlier = recent.filter((message) => message.id !== newest.id && byMessage.get(message.id) === current.id).slice(-RECALLED_LINES);
    if (earlier.length === 0) return '';
    const lines = earlier.map(
      (message) => `- ${message.role === 'user' ? 'The visitor' : 'You'}: "${truncate(message.content, SUMMARY_QUOTE_CHARS)}"`,
    );
    return `The talk is coming back to an earlier topic (${current.label}). What was said about it before:\n${lines.join('\n')}`;
  }

  private async messageById(conversationId: string, id: number): Promise<MessageRecord | null> {
    const page = await this.store.historyPage(conversationId, { limit: 1, beforeId: id + 1 });
    return page.messages[0] ?? null;
  }
}


function truncate(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/**
 * The window's messages by thread (the filed ones kept in `filed`), the ids `filed` does not know, and the
 * window's oldest id: one walk of its records.
 */
function walkWindow(recent: readonly MessageRecord[], filed: ReadonlyMap<number, number | null>): { byMessage: Map<number, number>; unknown: number[]; oldest: number } {
  const byMessage = new Map<number, number>();
  const unknown: number[] = [];
  let oldest = Number.POSITIVE_INFINITY;
  for (const message of recent) {
    const threadId = filed.get(message.id);
    if (threadId === undefined) unknown.push(message.id);
    else if (threadId !== null) byMessage.set(message.id, threadId);
    if (message.id < oldest) oldest = message.id;
  }
  return { byMessage, unknown, oldest };
}

/** Records a filing in the kept threads: the thread's centroid, label, activity and count, the message's thread, the current thread. */
function keepFiling(kept: ConversationThreads, filing: ThreadFiling, messageCount: number): void {
  const index = kept.threads.findIndex((candidate) => candidate.id === filing.threadId);
  const thread = kept.threads[index];
  if (thread !== undefined) kept.threads[index] = { ...thread, centroid: filing.centroid, label: filing.label, lastActiveAt: filing.now, messageCount };
  kept.currentId = filing.threadId;
  kept.filed.set(filing.messageId, filing.threadId);
  // a conversation nobody asks a prompt view of (a group's) would grow it forever
  if (kept.filed.size > MAX_FILED_KEPT) kept.filed.delete(kept.filed.keys().next().value as number);
}

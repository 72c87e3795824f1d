/**
 * The Store contract on PostgreSQL: selects the PostgreSQL backend and runs the SQLite store's tests
 * (`../sqlite/sqlite-store.test.ts`) unchanged, plus what only a shared server has: two nodes on one
 * database. Skipped, with a message, when no PostgreSQL is available.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import { freshEnergy, spendEnergy, type SocialEnergyState } from '../../domain/social-energy.js';
import { PostgresJobQueue } from './pg-job-queue.js';
import { AFTER_REPLY_LEASE_MS, PostgresStore } from './pg-store.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/sqlite-store.test.js');

describe.skipIf(!available.ok)('PostgresStore on a shared server', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  it('serialises two nodes appending first turns for one session: one conversation, every message kept', async () => {
    const database = await freshPostgres();
    const nodeA = new PostgresStore(database);
    await nodeA.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
    const turns = await Promise.all(
      Array.from({ length: 20 }, (_, i) => nodeA.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: `m${i}`, tokens: 1, now: 1_000 + i })),
    );
    expect(new Set(turns.map((turn) => turn.conversation.id)).size).toBe(1);
    const history = await nodeA.historyPage(turns[0]!.conversation.id, { limit: 50 });
    expect(history.messages).toHaveLength(20);
  });

  it('counts every energy change of two nodes spending one persona at once (none overwrites another)', async () => {
    const nodeA = new PostgresStore(await freshPostgres());
    const nodeB = new PostgresStore(await freshPostgres());
    const definition = buildPersonaDefinition({ name: 'Aria' });
    await nodeA.insertPersona(definition, 1);
    const profile = { ...definition.socialEnergy, maxEnergy: 1_000, costPerTurn: 1, recoveryPerMinute: 0 };
    const { conversation } = await nodeA.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hi', tokens: 1, now: 1_000 });
    const spend = (stored: SocialEnergyState | null): SocialEnergyState => spendEnergy(stored ?? freshEnergy(profile, 1_000), profile, 0, 2_000);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const node = i % 2 === 0 ? nodeA : nodeB;
        return i % 4 < 2
          ? node.updatePersonaState('aria', spend)
          : node.appendAssistantTurn({ conversationId: conversation.id, personaId: 'aria', content: `r${i}`, tokens: 1, promptTokens: 1, processingMs: 1, now: 2_000, personaState: spend });
      }),
    );
    // 20 turns of cost 1 each from 1 000: last-write-wins would leave 999.
    expect((await nodeB.getPersonaState('aria'))?.energy).toBe(980);
    expect((await nodeA.getPersonaState('aria'))?.fatigue).toBeCloseTo(1);
  });

  it('keeps who owns a persona (a user-made persona stays private to its owner on every node)', async () => {
    const store = new PostgresStore(await freshPostgres());
    await store.insertPersona(buildPersonaDefinition({ name: 'Mine' }), 1, { ownerUserId: 'sam' });
    await store.insertPersona(buildPersonaDefinition({ name: 'Shared' }), 1);
    expect((await store.getPersona('mine'))?.ownerUserId).toBe('sam');
    expect((await store.listPersonas()).map((persona) => [persona.id, persona.ownerUserId])).toEqual([
      ['mine', 'sam'],
      ['shared', null],
    ]);
  });

  describe("a reply's pending after-reply writes", () => {
    const afterReply = { session: { id: 's1', userId: 'sam' }, userMessageId: null };
    /** A reply recorded as having its after-reply writes still to come, by `node`. */
    const reply = async (node: PostgresStore, now = 2_000): Promise<{ conversationId: string; replyId: number; userId: number }> => {
      if ((await node.getPersona('aria')) === null) await node.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
      const { conversation, message } = await node.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hi', tokens: 1, now: now - 1 });
      const saved = await node.appendAssistantTurn({
        conversationId: conversation.id,
        personaId: 'aria',
        content: 'hello',
        tokens: 1,
        promptTokens: 1,
        processingMs: 1,
        now,
        personaState: freshEnergy(buildPersonaDefinition({ name: 'Aria' }).socialEnergy, now),
        afterReply: { ...afterReply, userMessageId: message.id },
      });
      return { conversationId: conversation.id, replyId: saved.id, userId: message.id };
    };

    it("are left to their node while it runs, cleared once written, and never taken by a node while their owner is connected", async () => {
      const nodeA = new PostgresStore(await freshPostgres());
      const nodeB = new PostgresStore(await freshPostgres());
      const first = await reply(nodeA);
      // A's own sweep and B's start-up both leave a live node's fresh record alone.
      expect(await nodeA.pendingAfterReplies(3_000)).toEqual([]);
      expect(await nodeB.pendingAfterReplies(3_000)).toEqual([]);
      let written = false;
      const clearing = nodeA.afterReplyWritten(first.replyId, new Promise<void>((resolve) => setTimeout(() => ((written = true), resolve()), 50)));
      await clearing;
      // cleared only after the writes it waited for
      expect(written).toBe(true);
      expect((await nodeA.database.rows('SELECT * FROM after_reply_pending')).length).toBe(0);
    });

    it('are taken over by exactly one node once their node is gone (its connections closed, as by kill -9)', async () => {
      const nodeA = new PostgresStore(await freshPostgres());
      const replies = [await reply(nodeA, 2_000), await reply(nodeA, 2_010), await reply(nodeA, 2_020)];
      // As a crash leaves it: the records written, their writes never cleared, the node's connections closed
      // (test/e2e/crash-after-reply-postgres.test.ts kills a real server).
      await nodeA.close();
      const nodes = await Promise.all([1, 2, 3].map(async () => new PostgresStore(await freshPostgres())));
      const taken = await Promise.all(nodes.map((node) => node.pendingAfterReplies(3_000)));
      const all = taken.flat();
      // every record once, oldest first within each node's share, with what the recovery needs
      expect(all.map((entry) => entry.replyMessageId).sort((a, b) => a - b)).toEqual(replies.map((entry) => entry.replyId));
      expect(all.find((entry) => entry.replyMessageId === replies[0]!.replyId)).toEqual({
        replyMessageId: replies[0]!.replyId,
        conversationId: replies[0]!.conversationId,
        userMessageId: replies[0]!.userId,
        session: afterReply.session,
      });
      // taken: now the records of live nodes, no node takes them again
      expect((await Promise.all(nodes.map((node) => node.pendingAfterReplies(4_000)))).flat()).toEqual([]);
    });

    it("stay their node's when its lock connection drops while it runs (it takes its lock again): another node's takeover leaves them", async () => {
      const nodeA = new PostgresStore(await freshPostgres());
      const nodeB = new PostgresStore(await freshPostgres());
      const pending = await reply(nodeA);
      const owner = (await nodeB.database.one<{ owner_key: number }>('SELECT owner_key FROM after_reply_pending'))!.owner_key;
      const holder = async (): Promise<number | null> =>
        (
          await nodeB.database.one<{ pid: number }>(
            `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND ((classid::bigint << 32) | objid::bigint) = $1`,
            [owner],
          )
        )?.pid ?? null;
      const dropped = (await holder())!;
      await nodeB.database.query('SELECT pg_terminate_backend($1)', [dropped]);
      // until the terminated backend has exited (its lock released); A's lock may be back already
      for (let looks = 0; (await holder()) === dropped && looks < 500; looks += 1) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(await holder()).not.toBe(dropped);
      // B's sweep sees A's lock gone, or back: either way A holds it again before B would take anything.
      expect(await nodeB.pendingAfterReplies(3_000)).toEqual([]);
      expect(await holder()).not.toBeNull();
      expect(await nodeB.database.one('SELECT owner_key FROM after_reply_pending')).toEqual({ owner_key: owner });
      // A's own after-reply writes clear the record: done once, by A.
      await nodeA.afterReplyWritten(pending.replyId);
      expect(await nodeB.database.rows('SELECT * FROM after_reply_pending')).toEqual([]);
    });

    it('are done once: the writes committed before their node died are not done again by the node that takes the reply over', async () => {
      const dbA = await freshPostgres();
      const nodeA = new PostgresStore(dbA);
      const pending = await reply(nodeA);
      // The reply's jobs committed (their own transaction on PostgreSQL), then the node died before its
      // other after-reply writes and the record's clearing (connections closed, as by kill -9).
      const formation = await nodeA.runAfterReply(pending.replyId, () => new PostgresJobQueue(dbA).enqueue('memory.form', { messageId: pending.replyId }));
      await nodeA.close();
      const dbB = await freshPostgres();
      const nodeB = new PostgresStore(dbB);
      expect((await nodeB.pendingAfterReplies(3_000)).map((entry) => entry.replyMessageId)).toEqual([pending.replyId]);
      // The redo asks for the same writes in the same order: the job committed before is given back, the next one is new.
      const jobs = new PostgresJobQueue(dbB);
      const again = await nodeB.runAfterReply(pending.replyId, async () => [
        await jobs.enqueue('memory.form', { messageId: pending.replyId }),
        await jobs.enqueue('social.relationship', { messageId: pending.replyId }),
      ]);
      expect(again[0]).toBe(formation);
      await nodeB.afterReplyWritten(pending.replyId);
      expect(await dbB.rows('SELECT type FROM jobs ORDER BY id')).toEqual([{ type: 'memory.form' }, { type: 'social.relationship' }]);
      expect(await dbB.rows('SELECT * FROM after_reply_pending')).toEqual([]);
    });

    it('are done once when a node still alive writes them after another node took the reply over (whichever comes first)', async () => {
      const dbA = await freshPostgres();
      const dbB = await freshPostgres();
      const nodeA = new PostgresStore(dbA);
      const nodeB = new PostgresStore(dbB);
      const [jobsA, jobsB] = [new PostgresJobQueue(dbA), new PostgresJobQueue(dbB)];
      const stuck = await reply(nodeA, 2_000);
      // A was only slow: B takes the reply over once its lease has passed.
      expect((await nodeB.pendingAfterReplies(2_000 + AFTER_REPLY_LEASE_MS)).map((entry) => entry.replyMessageId)).toEqual([stuck.replyId]);
      // A's formation job comes first: B's redo gives it back. B's relationship job comes first: A's is refused.
      const formation = await nodeA.runAfterReply(stuck.replyId, () => jobsA.enqueue('memory.form', {}));
      const redone = await nodeB.runAfterReply(stuck.replyId, async () => [await jobsB.enqueue('memory.form', {}), await jobsB.enqueue('social.relationship', {})]);
      expect(redone[0]).toBe(formation);
      await expect(nodeA.runAfterReply(stuck.replyId, () => jobsA.enqueue('social.relationship', {}))).rejects.toThrow(/not done twice/);
      // A leaves the record to B, which clears it.
      await nodeA.afterReplyWritten(stuck.replyId);
      expect(await dbA.rows('SELECT reply_message_id FROM after_reply_pending')).toEqual([{ reply_message_id: stuck.replyId }]);
      await nodeB.afterReplyWritten(stuck.replyId);
      expect(await dbA.rows('SELECT type FROM jobs ORDER BY id')).toEqual([{ type: 'memory.form' }, { type: 'social.relationship' }]);
      expect(await dbA.rows('SELECT * FROM after_reply_pending')).toEqual([]);
    });

    it('are taken over once their lease has passed, even while their node looks connected (a stuck node)', async () => {
      const nodeA = new PostgresStore(await freshPostgres());
      const nodeB = new PostgresStore(await freshPostgres());
      const stuck = await reply(nodeA, 2_000);
      expect(await nodeB.pendingAfterReplies(2_000 + AFTER_REPLY_LEASE_MS - 1)).toEqual([]);
      expect((await nodeB.pendingAfterReplies(2_000 + AFTER_REPLY_LEASE_MS)).map((entry) => entry.replyMessageId)).toEqual([stuck.replyId]);
      await nodeB.afterReplyWritten(stuck.replyId);
      expect(await nodeA.pendingAfterReplies(10 * AFTER_REPLY_LEASE_MS)).toEqual([]);
    });
  });

  it('reports its size and the URL without the password', async () => {
    const store = new PostgresStore(await freshPostgres());
    const health = await store.checkHealth();
    expect(health.ok).toBe(true);
    expect(health.sizeBytes).toBeGreaterThan(0);
    expect(health.path).toMatch(/^postgres:\/\//);
    // pgvector as the server offers it (Debian 12's PostgreSQL has none; another server may).
    const offered = await store.database.one<{ installed: string | null }>("SELECT installed_version AS installed FROM pg_available_extensions WHERE name = 'vector'");
    expect(health.vectors).toEqual({ kind: 'in-memory', pgvector: offered === null ? 'absent' : offered.installed === null ? 'available' : 'installed' });
  });
});

describe.skipIf(available.ok)('PostgresStore', () => {
  it.skip(`skipped: ${available.ok ? '' : available.reason}`, () => {});
});

import { describe, expect, it } from 'vitest';
import { TurnOrder } from './turn-order.js';

/** Records the order in which turns get their turn. */
function recorder(): { admitted: string[]; enter: (order: TurnOrder, name: string, signal?: AbortSignal) => Promise<() => void> } {
  const admitted: string[] = [];
  return {
    admitted,
    enter: async (order, name, signal = new AbortController().signal) => {
      const end = await order.enter('session:aria', signal);
      admitted.push(name);
      return end;
    },
  };
}

describe('TurnOrder', () => {
  it('lets one turn of a line run at a time, in arrival order, and lines side by side', async () => {
    const order = new TurnOrder(() => 4);
    const { admitted, enter } = recorder();
    const endFirst = await enter(order, 'first');
    const second = enter(order, 'second');
    const third = enter(order, 'third');
    await order.enter('session:kira', new AbortController().signal); // another line: not held up
    await Promise.resolve();
    expect(admitted).toEqual(['first']);

    endFirst();
    (await second)();
    await third;
    expect(admitted).toEqual(['first', 'second', 'third']);
  });

  it('refuses a turn with limit_exceeded when the line is full', async () => {
    const order = new TurnOrder(() => 1);
    await order.enter('session:aria', new AbortController().signal);
    void order.enter('session:aria', new AbortController().signal);

    await expect(order.enter('session:aria', new AbortController().signal)).rejects.toMatchObject({
      kind: 'limit_exceeded',
      data: { limit: 'limits.maxQueuedChatsPerConversation', max: 1 },
    });
  });

  it('takes a turn cancelled while it waits out of the line: the next one goes after the running one', async () => {
    const order = new TurnOrder(() => 4);
    const { admitted, enter } = recorder();
    const endFirst = await enter(order, 'first');
    const gone = new AbortController();
    const cancelled = enter(order, 'cancelled', gone.signal);
    const next = enter(order, 'next');
    gone.abort();

    await expect(cancelled).rejects.toMatchObject({ kind: 'cancelled' });
    endFirst();
    await next;
    expect(admitted).toEqual(['first', 'next']);
  });
});

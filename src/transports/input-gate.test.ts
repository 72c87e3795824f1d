import { describe, expect, it } from 'vitest';
import { InputGate, MAX_WAITING_FRAMES, type PausableInput } from './input-gate.js';

/** A stand-in for the socket: records whether it is paused. */
class Input implements PausableInput {
  isPaused = false;
  pauses = 0;
  pause(): void {
    this.isPaused = true;
    this.pauses += 1;
  }
  resume(): void {
    this.isPaused = false;
  }
}

function gateOver(input: Input, onRead: (frame: string, gate: InputGate<string>) => void = () => undefined): { gate: InputGate<string>; read: string[] } {
  const read: string[] = [];
  const gate: InputGate<string> = new InputGate<string>(input, (frame) => {
    read.push(frame);
    onRead(frame, gate);
  });
  return { gate, read };
}

describe('InputGate', () => {
  it('reads frames at once while nothing holds it', () => {
    const input = new Input();
    const { gate, read } = gateOver(input);
    expect(gate.offer('a')).toBe(true);
    expect(read).toEqual(['a']);
    expect(input.isPaused).toBe(false);
  });

  it('pauses the input on the first hold and keeps the frames that still arrive, in order, until the last hold is released', () => {
    const input = new Input();
    const { gate, read } = gateOver(input);
    gate.hold('rate');
    gate.hold('busy');
    expect(input.pauses).toBe(1);
    gate.offer('a');
    gate.offer('b');
    expect(read).toEqual([]);
    expect(gate.waitingCount).toBe(2);
    gate.release('rate');
    expect(read).toEqual([]);
    expect(input.isPaused).toBe(true);
    gate.release('busy');
    expect(read).toEqual(['a', 'b']);
    expect(gate.waitingCount).toBe(0);
    expect(input.isPaused).toBe(false);
  });

  it('stops reading what waits when a frame holds it again, and goes on from there at the next release', () => {
    const input = new Input();
    const { gate, read } = gateOver(input, (frame, self) => {
      if (frame === 'b') self.hold('rate');
    });
    gate.hold('slow');
    for (const frame of ['a', 'b', 'c', 'd']) gate.offer(frame);
    gate.release('slow');
    expect(read).toEqual(['a', 'b']);
    expect(input.isPaused).toBe(true);
    // A frame arriving now queues behind the waiting ones rather than overtaking them.
    gate.offer('e');
    gate.release('rate');
    expect(read).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(input.isPaused).toBe(false);
  });

  it('ignores the release of a hold it does not have', () => {
    const input = new Input();
    const { gate } = gateOver(input);
    gate.hold('busy');
    gate.release('rate');
    expect(gate.isHeldFor('busy')).toBe(true);
    expect(input.isPaused).toBe(true);
  });

  it(`refuses to keep more than ${MAX_WAITING_FRAMES} frames`, () => {
    const input = new Input();
    const { gate } = gateOver(input);
    gate.hold('rate');
    for (let index = 0; index < MAX_WAITING_FRAMES; index += 1) expect(gate.offer('x')).toBe(true);
    expect(gate.offer('x')).toBe(false);
    gate.clear();
    expect(gate.waitingCount).toBe(0);
  });
});

/**
 * Backpressure on what one client sends: while a connection is held (over its request rate, too much of
 * its work still running, too slow to read its answers) the server stops reading its socket, so what it
 * sends meanwhile waits in its own TCP buffers and the client's writes block, instead of every frame
 * being read, parsed, answered and written at the expense of the other clients (round 7 measured one
 * flooding connection push another client's `persona.list` from p50 1.5 ms to 2.1 s).
 *
 * Pausing the socket stops further reads, but the frames already read in the same chunk (up to 64 KiB,
 * thousands of small frames) are still handed over by `ws`: those wait here, in order, and are read
 * when the last hold is released.
 */

/** Why a connection's input is held. Several may hold at once; reading resumes when none does. */
export type HoldReason = 'rate' | 'busy' | 'slow';

const REASON_BITS: Record<HoldReason, number> = { rate: 1, busy: 2, slow: 4 };

/** What the gate pauses: a `ws` WebSocket or a `net.Socket`. */
export interface PausableInput {
  pause(): void;
  resume(): void;
}

/**
 * Frames that may wait while held. Only the rest of one socket read can arrive once paused (Node reads
 * at most 64 KiB at a time, and a WebSocket frame takes at least 6 bytes), so this is never reached by a
 * client `ws` behaves with; beyond it the gate says the client overran it (`offer` answers false).
 */
export const MAX_WAITING_FRAMES = 16_384;

export class InputGate<Frame> {
  private holds = 0;
  private readonly waiting: Frame[] = [];
  private next = 0;
  private isDraining = false;

  /**
   * @param input paused while any hold is on, resumed when the last one is released.
   * @param read handles one frame; it may hold the gate again, which stops the frames behind it.
   */
  constructor(
    private readonly input: PausableInput,
    private readonly read: (frame: Frame) => void,
  ) {}

  /** Whether input is held (for any reason). */
  get isHeld(): boolean {
    return this.holds !== 0;
  }

  /** Whether input is held for this reason. */
  isHeldFor(reason: HoldReason): boolean {
    return (this.holds & REASON_BITS[reason]) !== 0;
  }

  /** Frames read from the socket but not handled yet. */
  get waitingCount(): number {
    return this.waiting.length - this.next;
  }

  /**
   * A frame from the socket: read now, or kept for later while held (or while earlier ones wait).
   * False when it could not be kept: the client overran `MAX_WAITING_FRAMES`.
   */
  offer(frame: Frame): boolean {
    if (this.holds === 0 && this.waitingCount === 0) {
      this.read(frame);
      return true;
    }
    if (this.waitingCount >= MAX_WAITING_FRAMES) return false;
    this.waiting.push(frame);
    return true;
  }

  hold(reason: HoldReason): void {
    const wasHeld = this.holds !== 0;
    this.holds |= REASON_BITS[reason];
    if (!wasHeld) this.input.pause();
  }

  /** Releases one hold; when none is left, reads the frames that waited (until one holds again), then resumes. */
  release(reason: HoldReason): void {
    const bit = REASON_BITS[reason];
    if ((this.holds & bit) === 0) return;
    this.holds &= ~bit;
    if (this.holds !== 0) return;
    this.drain();
    if (this.holds === 0) this.input.resume();
  }

  /** Drops what waits (the connection closed). */
  clear(): void {
    this.waiting.length = 0;
    this.next = 0;
  }

  private drain(): void {
    // A frame read here may release and re-enter (its handler answered at once): one loop does it all.
    if (this.isDraining) return;
    this.isDraining = true;
    try {
      while (this.holds === 0 && this.next < this.waiting.length) {
        const frame = this.waiting[this.next] as Frame;
        this.waiting[this.next] = undefined as Frame;
        this.next += 1;
        this.read(frame);
      }
      if (this.next === this.waiting.length) this.clear();
    } finally {
      this.isDraining = false;
    }
  }
}

/**
 * A server's CPU profile split by the piece of a chat turn's I/O each sample belongs to (bench/floor.ts
 * `--cpu-prof`), by the frame nearest the sampled one that says: `socket` for Node's socket writes and reads,
 * whoever called them (the loopback `writev`, whose time on this VM is mostly waking the process that reads,
 * round 12); `sqlite` for better-sqlite3 (its native methods are frames without a file: `run`, `get`, …),
 * persona-mcp's SQLite adapter (dist/adapters/sqlite, its reads too) and the floor's writes
 * (bench/lib/floor-writes.ts); `ws` for `ws` and persona-mcp's WebSocket transport; `model` for undici and
 * persona-mcp's model adapters (HTTP client, queue, router, Ollama); `gc` for V8's collector; `program` for
 * V8's own unattributed time. Any other file nearer the sample makes it `code` (a handler `ws` calls is not
 * `ws`'s): the server's own logic, its other dependencies and the Node internals it calls (JSON, streams,
 * timers). Idle samples are left out.
 *
 * Sample times are wall time: a thread preempted inside a system call (a `writev` that woke the reader on
 * the same CPU) is charged for the wait, so the pieces add up to more than /proc's CPU time on a busy machine.
 */
import type { Profile, ProfileNode } from './cpu-profile.js';

export const PIECES = ['socket', 'ws', 'model', 'sqlite', 'gc', 'program', 'code'] as const;
export type Piece = (typeof PIECES)[number];

/** Node's socket I/O: the write system calls (whose cost here is mostly waking the peer that reads) and the reads' callbacks. */
const SOCKET_FRAMES = new Set(['writev', 'writeBuffer', 'writeUtf8String', 'writeLatin1String', 'writeAsciiString', 'onStreamRead']);

/** persona-mcp's own model-call code: the HTTP client, queue, router and the Ollama/OpenAI adapters. */
const MODEL_ADAPTERS = /\/dist\/adapters\/(llm-http|llm-queue|llm-router|llm-replay|ollama|openai)\//;

const SQLITE_NATIVE = new Set(['run', 'get', 'all', 'iterate', 'exec', 'prepare', 'pragma', 'pluck', 'raw', 'expand', 'columns', 'bind', 'safeIntegers']);

function pieceOfFrame(node: ProfileNode, parent: ProfileNode | undefined): Piece | null {
  const { url, functionName } = node.callFrame;
  if (SOCKET_FRAMES.has(functionName) && (url === '' || url.startsWith('node:internal/stream_base_commons'))) return 'socket';
  if (url.includes('node_modules/better-sqlite3/') || url.includes('/dist/adapters/sqlite/') || url.includes('/bench/lib/floor-writes.')) return 'sqlite';
  if (url.includes('node_modules/ws/') || url.includes('/dist/transports/websocket')) return 'ws';
  if (url.includes('node_modules/undici/') || MODEL_ADAPTERS.test(url)) return 'model';
  // A native method of better-sqlite3's Statement or Database: no file, called from JavaScript that has one.
  if (url === '' && SQLITE_NATIVE.has(functionName) && parent !== undefined && parent.callFrame.url !== '') return 'sqlite';
  // The server's own code (or another dependency of it) owns what it calls: a handler that `ws` calls is not `ws`'s.
  if (url !== '' && !url.startsWith('node:')) return 'code';
  return null;
}

/** Milliseconds of the profile's samples by piece. */
export function piecesOf(profile: Profile): Record<Piece, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const cache = new Map<number, Piece | 'idle'>();
  const classify = (id: number): Piece | 'idle' => {
    const known = cache.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    let piece: Piece | 'idle' = 'code';
    if (name === '(idle)') piece = 'idle';
    else if (name === '(garbage collector)') piece = 'gc';
    else if (name === '(program)') piece = 'program';
    else {
      for (let current: number | undefined = id; current !== undefined; current = parentOf.get(current)) {
        const parentId = parentOf.get(current);
        const found = pieceOfFrame(byId.get(current)!, parentId === undefined ? undefined : byId.get(parentId));
        if (found !== null) {
          piece = found;
          break;
        }
      }
    }
    cache.set(id, piece);
    return piece;
  };
  const totals = Object.fromEntries(PIECES.map((piece) => [piece, 0])) as Record<Piece, number>;
  profile.samples.forEach((id, index) => {
    const piece = classify(id);
    if (piece !== 'idle') totals[piece] += (profile.timeDeltas[index] ?? 0) / 1000;
  });
  return totals;
}

/**
 * The flooding client of `bench/flood.ts`, in a process of its own: one WebSocket sending `persona.list`
 * frames as fast as its socket takes them (keeping up to 1 MiB queued), and reading every answer (or,
 * with `unread`, none: its socket is paused). Prints one JSON line when told to stop (SIGTERM) or after
 * `seconds`: frames sent, answered, refused, and whether the server closed it.
 */
import WebSocket from 'ws';

const [url, secondsArg, mode] = process.argv.slice(2);
const isReading = mode !== 'unread';
const seconds = Number(secondsArg ?? 10);
const socket = new WebSocket(url!);
const frame = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'persona.list' });
let sent = 0;
let answered = 0;
let refused = 0;
let isRunning = true;
let closedBy: number | null = null;

socket.on('message', (data) => {
  answered += 1;
  if (data.toString().includes('"code":-32021')) refused += 1;
});

function pump(): void {
  if (!isRunning || socket.readyState !== socket.OPEN) return;
  // Not reading, ws's bufferedAmount still drains into the kernel until the server stops reading.
  while (socket.bufferedAmount < 1024 * 1024) {
    socket.send(frame);
    sent += 1;
  }
  setImmediate(pump);
}

let isFinished = false;
function finish(): void {
  if (isFinished) return;
  isFinished = true;
  isRunning = false;
  process.stdout.write(`${JSON.stringify({ sent, answered, refused, closedBy })}\n`);
  socket.terminate();
  process.exit(0);
}

socket.once('close', (code) => {
  closedBy = code;
  isRunning = false;
});
socket.once('open', () => {
  if (!isReading) socket.pause();
  process.stdout.write('open\n');
  pump();
});
socket.once('error', (error) => {
  process.stderr.write(`flooder: ${error.message}\n`);
  process.exit(1);
});
process.once('SIGTERM', finish);
setTimeout(finish, seconds * 1000).unref();

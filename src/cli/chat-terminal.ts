/**
 * The terminal side of `persona-mcp chat`: reads lines (with line editing on a TTY, plain lines from a
 * pipe) and writes replies, notes and errors. With piped input each line is echoed after its prompt,
 * so the output is a readable transcript; colours appear only on a TTY and never with NO_COLOR.
 */
import readline from 'node:readline';

export class ChatTerminal {
  /** True when both ends are a terminal: prompts, line editing, Ctrl-C handled by readline. */
  readonly isInteractive: boolean;
  private readonly hasColor: boolean;
  private lines: AsyncIterator<string> | undefined;
  private rl: readline.Interface | undefined;
  private interruptHandlers: Array<() => void> = [];
  private isClosed = false;

  constructor(
    private readonly input: NodeJS.ReadStream,
    private readonly output: NodeJS.WriteStream,
  ) {
    this.isInteractive = Boolean(input.isTTY && output.isTTY);
    this.hasColor = Boolean(output.isTTY) && !process.env.NO_COLOR;
  }

  /** Shows `prompt` and resolves with the next line, or null at end of input (Ctrl-D, EOF, closed). */
  async ask(prompt: string): Promise<string | null> {
    if (this.isClosed) return null;
    const lines = this.open();
    if (this.isInteractive) {
      this.rl?.setPrompt(prompt);
      this.rl?.prompt();
    }
    const next = await lines.next();
    if (next.done) return null;
    if (!this.isInteractive) this.output.write(`${prompt}${next.value}\n`);
    return next.value;
  }

  write(text: string): void {
    this.output.write(text);
  }

  line(text: string): void {
    this.output.write(`${text}\n`);
  }

  /** Secondary information (scores, hints), dimmed on a colour terminal. */
  note(text: string): void {
    this.output.write(this.hasColor ? `\x1b[2m${text}\x1b[22m\n` : `${text}\n`);
  }

  /** One line on stderr, marked ✗ (red on a colour terminal). */
  error(text: string): void {
    const colored = Boolean(process.stderr.isTTY) && !process.env.NO_COLOR;
    process.stderr.write(colored ? `\x1b[31m✗ ${text}\x1b[39m\n` : `✗ ${text}\n`);
  }

  /** Ctrl-C on an interactive terminal (readline takes it over from the process signal). */
  onInterrupt(handler: () => void): void {
    this.interruptHandlers.push(handler);
  }

  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.rl?.close();
    // readline pauses stdin on close; a paused pipe can still hold the event loop open.
    if (!this.isInteractive) this.input.destroy();
  }

  /**
   * Created on first use, so a command that fails before asking anything never touches stdin. The
   * iterator is taken at once: readline drops lines that arrive before someone iterates.
   */
  private open(): AsyncIterator<string> {
    if (this.lines !== undefined) return this.lines;
    const rl = readline.createInterface({ input: this.input, output: this.output, terminal: this.isInteractive, crlfDelay: Infinity });
    this.rl = rl;
    this.lines = rl[Symbol.asyncIterator]();
    rl.on('SIGINT', () => {
      this.output.write('\n');
      for (const handler of this.interruptHandlers) handler();
    });
    return this.lines;
  }
}

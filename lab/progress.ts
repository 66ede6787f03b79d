/**
 * One line per step while the lab builds. On a terminal the line shows the step running and is
 * rewritten with its outcome; otherwise (a log, a pipe, CI) each step prints one plain line when it ends.
 */
export class Progress {
  private readonly tty: boolean;
  constructor(private readonly out: NodeJS.WriteStream = process.stderr) {
    this.tty = out.isTTY;
  }

  async step<T>(label: string, fn: () => Promise<T>, done?: (r: T) => string): Promise<T> {
    const started = Date.now();
    if (this.tty) this.out.write(`  … ${label}`);
    const secs = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
    try {
      const r = await fn();
      const extra = done ? `: ${done(r)}` : "";
      this.line(`  ✓ ${label}${extra} (${secs()})`, `ok   ${label}${extra} (${secs()})`);
      return r;
    } catch (err) {
      this.line(`  ✗ ${label} (${secs()})`, `FAIL ${label} (${secs()})`);
      throw err;
    }
  }

  note(text: string): void {
    this.out.write(`${text}\n`);
  }

  private line(ttyText: string, plain: string): void {
    if (this.tty) this.out.write(`\r\x1b[K${ttyText}\n`);
    else this.out.write(`${plain}\n`);
  }
}

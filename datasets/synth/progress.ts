/** A progress bar on stderr: count, rate and ETA; redrawn at most ten times a second, plain lines when not a TTY. */
export class ProgressBar {
  private readonly start = Date.now();
  private lastDraw = 0;
  private lastPct = -1;
  private done = 0;

  constructor(
    private readonly total: number,
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  tick(n = 1): void {
    this.done += n;
    const now = Date.now();
    if (this.done < this.total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.draw(now);
  }

  finish(): void {
    if (this.lastPct !== 10) this.draw(Date.now());
    if (this.stream.isTTY) this.stream.write('\n');
  }

  private draw(now: number): void {
    const elapsed = (now - this.start) / 1000;
    const rate = elapsed > 0 ? this.done / elapsed : 0;
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    const frac = this.total > 0 ? this.done / this.total : 1;
    const width = 28;
    const filled = Math.round(frac * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total}  ${rate.toFixed(1)} img/s  ${elapsed.toFixed(1)}s elapsed  ETA ${formatSeconds(eta)}`;
    if (this.stream.isTTY) {
      this.stream.write(`\r${line}\x1b[K`);
      return;
    }
    const pct = Math.floor(frac * 10);
    if (pct !== this.lastPct || this.done === this.total) {
      this.lastPct = pct;
      this.stream.write(line + '\n');
    }
  }
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(0)}s`;
  return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

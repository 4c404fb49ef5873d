/**
 * A one-line progress bar with rate and ETA, redrawn in place on a terminal. Off a terminal it
 * prints nothing: logs carry the outcome there, and a CI log full of carriage returns helps nobody.
 */
export class ProgressBar {
  private readonly started = performance.now();
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  get enabled(): boolean {
    return Boolean(this.stream.isTTY);
  }

  update(done: number, total: number, detail = ""): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (done < total && now - this.lastDraw < 100) return;
    this.lastDraw = now;
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : 0;
    const eta = rate > 0 && done < total ? ` ETA ${formatSeconds((total - done) / rate)}` : "";
    const width = 24;
    const filled = total > 0 ? Math.round((done / total) * width) : width;
    const bar = "#".repeat(filled) + "-".repeat(width - filled);
    const text = `${this.label} [${bar}] ${done}/${total} ${rate.toFixed(0)}/s${eta}${detail ? ` ${detail}` : ""}`;
    this.stream.write(`\r${text.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[K`);
    this.drawn = true;
  }

  finish(): void {
    if (this.drawn) this.stream.write("\r\x1b[K");
    this.drawn = false;
  }
}

function formatSeconds(seconds: number): string {
  if (seconds < 60) return `${Math.ceil(seconds)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${minutes}m${String(Math.ceil(seconds % 60)).padStart(2, "0")}s`;
}

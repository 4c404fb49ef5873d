/**
 * A counting semaphore whose holders may take several permits at once, served strictly in arrival
 * order. Used to bound work whose cost varies per item (decoding a photo costs memory in proportion
 * to its format and size): a heavy item takes more permits, so fewer others run beside it.
 *
 *   const decodes = new Semaphore(4);
 *   const image = await decodes.use(2, () => decode(bytes));
 *
 * First come, first served on purpose: a heavy item waiting for all permits is not overtaken by a
 * stream of light ones, so it cannot starve; the light ones behind it wait instead.
 */
export class Semaphore {
  private held = 0;
  private highest = 0;
  private readonly queue: Array<{ permits: number; grant: () => void }> = [];

  constructor(readonly permits: number) {
    if (!Number.isInteger(permits) || permits < 1) throw new RangeError(`a semaphore needs a positive integer of permits, received ${permits}`);
  }

  /** Permits held right now. */
  get inUse(): number {
    return this.held;
  }

  /** Holders waiting for permits. */
  get waiting(): number {
    return this.queue.length;
  }

  /** The most permits ever held at once: never above `permits`. */
  get peak(): number {
    return this.highest;
  }

  /** Waits for `count` permits (1..permits) and returns the function that gives them back, once. */
  async acquire(count = 1): Promise<() => void> {
    if (!Number.isInteger(count) || count < 1 || count > this.permits) {
      throw new RangeError(`a holder may take 1..${this.permits} permits, asked for ${count}`);
    }
    if (this.queue.length === 0 && this.held + count <= this.permits) this.take(count);
    else await new Promise<void>((grant) => this.queue.push({ permits: count, grant }));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.held -= count;
      this.grantWaiting();
    };
  }

  /** Runs `work` holding `count` permits, giving them back however it ends. */
  async use<T>(count: number, work: () => Promise<T>): Promise<T> {
    const release = await this.acquire(count);
    try {
      return await work();
    } finally {
      release();
    }
  }

  private take(count: number): void {
    this.held += count;
    this.highest = Math.max(this.highest, this.held);
  }

  private grantWaiting(): void {
    for (let next = this.queue[0]; next && this.held + next.permits <= this.permits; next = this.queue[0]) {
      this.queue.shift();
      this.take(next.permits);
      next.grant();
    }
  }
}

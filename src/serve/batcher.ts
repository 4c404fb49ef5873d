/**
 * Groups concurrent requests into one backbone call. A batch leaves when it holds `maxBatch` items
 * or when its first item has waited `maxDelayMs`, whichever comes first; while a batch runs, new
 * items gather for the next one, so under load batches fill up and the backbone never idles waiting
 * for a timer. Each item's promise settles with its own result or the batch's error.
 */

export interface BatcherOptions<T, R> {
  maxBatch: number;
  maxDelayMs: number;
  process: (items: T[]) => Promise<R[]>;
  /** Told the size of every batch that runs (the batch-size histogram). */
  onBatch?: (size: number) => void;
}

interface Waiting<T, R> {
  item: T;
  enqueuedAt: number;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export class MicroBatcher<T, R> {
  private queue: Waiting<T, R>[] = [];
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly options: BatcherOptions<T, R>) {
    if (!Number.isInteger(options.maxBatch) || options.maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, received ${options.maxBatch}`);
    if (!(options.maxDelayMs >= 0)) throw new RangeError(`maxDelayMs must be >= 0, received ${options.maxDelayMs}`);
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, enqueuedAt: performance.now(), resolve, reject });
      this.schedule();
    });
  }

  /** Items waiting for a batch. */
  get pending(): number {
    return this.queue.length;
  }

  private schedule(): void {
    if (this.running) return;
    if (this.queue.length >= this.options.maxBatch) {
      this.flush();
    } else if (!this.timer && this.queue.length > 0) {
      // The delay counts from the oldest item's arrival, so items that waited through a running
      // batch do not wait a second time.
      const waited = performance.now() - (this.queue[0] as Waiting<T, R>).enqueuedAt;
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.options.maxDelayMs - waited));
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.options.maxBatch);
    this.running = true;
    this.options.onBatch?.(batch.length);
    void this.options
      .process(batch.map((waiting) => waiting.item))
      .then(
        (results) => {
          if (results.length !== batch.length) throw new Error(`a batch of ${batch.length} returned ${results.length} results`);
          batch.forEach((waiting, index) => waiting.resolve(results[index] as R));
        },
        (error: unknown) => batch.forEach((waiting) => waiting.reject(error)),
      )
      .catch((error: unknown) => batch.forEach((waiting) => waiting.reject(error)))
      .finally(() => {
        this.running = false;
        this.schedule();
      });
  }
}

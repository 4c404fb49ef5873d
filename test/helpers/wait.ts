/**
 * The one way tests wait for something to become true: poll a check until it gives a value or the
 * time is up, and then fail with what was awaited and what the check last said.
 */

export interface WaitOptions {
  /** How long to keep trying; 120 s unless said. */
  readonly timeoutMs?: number;
  /** The pause between tries; 250 ms unless said. */
  readonly everyMs?: number;
  /** More words for the timeout's error (a child's log, what the racers printed), read only then. */
  readonly explain?: () => string;
}

/** Thrown by a check that knows waiting longer is pointless (the process it waits on has died): rethrown at once. */
export class StopWaiting extends Error {
  override readonly name = "StopWaiting";
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Polls `check` until it returns a value other than undefined, and returns that value. A check that
 * throws is tried again (its last error goes into the timeout's message) unless it throws StopWaiting.
 * `options` may be the timeout in milliseconds.
 */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, options: WaitOptions | number = {}): Promise<T> {
  const { timeoutMs = 120_000, everyMs = 250, explain } = typeof options === "number" ? { timeoutMs: options } : options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      if (error instanceof StopWaiting) throw error;
      lastError = error;
    }
    if (Date.now() >= deadline) break;
    await sleep(Math.min(everyMs, Math.max(0, deadline - Date.now())));
  }
  const last = lastError === null ? "" : ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})`;
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}${explain ? `\n${explain()}` : ""}`);
}

/** waitFor for a yes-or-no condition: resolves once it holds. */
export async function waitUntil(what: string, condition: () => Promise<boolean> | boolean, options: WaitOptions | number = {}): Promise<void> {
  await waitFor(what, async () => ((await condition()) ? true : undefined), options);
}

/**
 * Whether `promise` resolves within `ms`: true once it has, false when the time is up first; its
 * rejection is passed on. The timer ends as soon as the promise settles: a plain race against a sleep
 * keeps that sleep's timer, and so the process, alive for its whole length after the race is won
 * (bench/push.ts raced the stop of `faceops up` against 60 s this way, and `npm run bench` sat idle
 * after its last row).
 */
export async function resolvesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<false>((done) => (timer = setTimeout(() => done(false), ms)));
  try {
    return await Promise.race([promise.then(() => true as const), timeUp]);
  } finally {
    clearTimeout(timer);
  }
}

import type { Logger } from "../log.js";
import { commitDecision, ReviewCommitRefused, type CommitCheck, type ReviewTarget } from "../review/commit.js";
import type { ReviewDecisions } from "../review/decisions.js";
import type { Inbox } from "../review/inbox.js";
import type { Clock } from "../util/clock.js";

/**
 * Acts on review decisions: every pending assign or not decision becomes a commit to the face
 * repository (review/commit.ts), and its faces leave the inbox. Level-triggered like the control
 * loop: each pass looks at every pending decision in the store, so a decision recorded while the
 * controller was down, or one whose push failed, is acted on at the next pass; a commit is made once
 * however often this runs. A decision the dataset check refuses fails, and its faces are offered for
 * review again; a repository that cannot be reached leaves the decision pending, tried again later.
 */

export interface ReviewCommitterOptions {
  decisions: ReviewDecisions;
  inbox: Inbox;
  /** The watched repository, opened for one pass (and closed after it). */
  openTarget: () => Promise<ReviewTarget>;
  check: CommitCheck;
  clock: Clock;
  log: Logger;
  /** Called after a commit, to have the controller look at the repository at once. */
  onCommitted: (commit: string) => void;
  /** How often pending decisions are looked at without a kick. */
  intervalMs: number;
}

export class ReviewCommitter {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private started = false;
  private stopped = false;

  constructor(private readonly options: ReviewCommitterOptions) {}

  start(): void {
    this.started = true;
    this.kick();
  }

  /** Looks at the pending decisions now (a decision was just recorded). */
  kick(): void {
    if (!this.started || this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.running = this.pass()
      .then(() => undefined)
      .catch((error: unknown) => this.options.log.warn({ err: error }, "review decisions could not be acted on; trying again later"))
      .finally(() => {
        this.running = null;
        if (this.stopped) return;
        if (this.again) {
          this.again = false;
          this.kick();
        } else {
          this.timer = setTimeout(() => this.kick(), this.options.intervalMs);
          this.timer.unref();
        }
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** One look at every pending decision; answers how many were committed. */
  async pass(): Promise<number> {
    const pending = (await this.options.decisions.list()).filter((decision) => decision.state === "pending" && decision.action !== "discard");
    if (pending.length === 0) return 0;
    const { log, clock } = this.options;
    const target = await this.options.openTarget();
    let committed = 0;
    try {
      for (const decision of pending) {
        if (this.stopped) break;
        try {
          const done = await commitDecision(decision, this.options.inbox, target, this.options.check);
          await this.options.decisions.resolve(decision.id, { state: "committed", commit: done.commit, branch: done.branch, reason: done.notices.join("; ") || null }, clock.now());
          await this.options.inbox.remove(decision.faces);
          // No names or paths at info: the decision's id leads to them in the store.
          log.info({ decision: decision.id, action: decision.action, faces: decision.faces.length, commit: done.commit, branch: done.branch, already: done.already }, "reviewed faces committed to the face repository");
          committed++;
          if (!done.already) this.options.onCommitted(done.commit);
        } catch (error) {
          if (error instanceof ReviewCommitRefused || (error instanceof Error && /is no longer in the inbox/.test(error.message))) {
            await this.options.decisions.resolve(decision.id, { state: "failed", commit: null, branch: null, reason: error.message }, clock.now());
            log.warn({ decision: decision.id, err: error }, "a review decision cannot be committed; its faces wait for review again");
          } else {
            log.warn({ decision: decision.id, err: error }, "a review decision could not be committed now; it stays pending");
          }
        }
      }
    } finally {
      await target.source.close();
    }
    return committed;
  }
}

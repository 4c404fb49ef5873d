import type { Logger } from "../log.js";
import type { Clock } from "../util/clock.js";
import type { CaptureReason, Inbox, NewFace } from "./inbox.js";

/**
 * Capture off the request path. The service offers a face and goes on answering: `offer` neither
 * waits nor throws. Faces wait in a short queue and are written one at a time; when the queue is
 * full the face is dropped and counted. A disk that is full or read-only stops capture for good
 * (one logged error, a metric), since every next write would fail the same way; any other failed
 * write loses that face alone.
 */

export type CaptureDrop = "full" | "expired" | "busy" | "failed";

export interface CaptureEvents {
  /** A face was written to the inbox, kept for this reason. */
  captured?(reason: CaptureReason): void;
  /** Faces lost: evicted for room (full), too old (expired), queue full (busy), write failed. */
  dropped?(reason: CaptureDrop, count: number): void;
  /** Capture stopped; no face is kept from now on. */
  stopped?(reason: string): void;
}

export interface Offered {
  face: NewFace;
  /** The crop as JPEG, encoded on the capture side rather than while the client waits. */
  crop: () => Promise<Uint8Array>;
  photo: (() => Promise<Uint8Array>) | null;
}

/** Writes that fail this way will fail again: the disk is full, read-only or not ours, or the inbox's path is not a folder. */
const lastingFailures = new Set(["EROFS", "ENOSPC", "EDQUOT", "EACCES", "EPERM", "ENOTDIR"]);

export const defaultMaxPending = 32;

export class FaceCapture {
  private readonly queue: Offered[] = [];
  private writing: Promise<void> | null = null;
  private stopReason: string | null = null;

  constructor(
    private readonly inbox: Pick<Inbox, "add" | "root">,
    private readonly options: { clock: Clock; log: Logger; events?: CaptureEvents; maxPending?: number },
  ) {}

  /** Why capture stopped, or null while it runs. */
  get stopped(): string | null {
    return this.stopReason;
  }

  offer(offered: Offered): void {
    if (this.stopReason) return;
    if (this.queue.length >= (this.options.maxPending ?? defaultMaxPending)) {
      this.options.events?.dropped?.("busy", 1);
      return;
    }
    this.queue.push(offered);
    this.writing ??= this.writeQueued().finally(() => {
      this.writing = null;
    });
  }

  /** Resolves when every face offered so far is written or dropped. */
  async drain(): Promise<void> {
    while (this.writing) await this.writing;
  }

  private async writeQueued(): Promise<void> {
    for (let next = this.queue.shift(); next; next = this.queue.shift()) {
      if (this.stopReason) {
        this.queue.length = 0;
        return;
      }
      try {
        const pruned = await this.inbox.add(next.face, await next.crop(), next.photo ? await next.photo() : null, this.options.clock.now());
        this.options.events?.captured?.(next.face.reason);
        if (pruned.evicted > 0) this.options.events?.dropped?.("full", pruned.evicted);
        if (pruned.expired > 0) this.options.events?.dropped?.("expired", pruned.expired);
      } catch (error) {
        this.options.events?.dropped?.("failed", 1);
        const code = (error as NodeJS.ErrnoException).code;
        if (code && lastingFailures.has(code)) {
          this.stopReason = `the inbox at ${this.inbox.root} cannot be written (${code}): face capture is off until the service restarts`;
          this.options.log.error({ err: error, inbox: this.inbox.root }, this.stopReason);
          this.options.events?.stopped?.(this.stopReason);
        } else {
          this.options.log.warn({ err: error, inbox: this.inbox.root }, "a captured face could not be kept");
        }
      }
    }
  }
}

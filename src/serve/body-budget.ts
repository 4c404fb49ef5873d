import type { IncomingMessage, ServerResponse } from "node:http";
import { HttpError } from "../http/errors.js";

/**
 * One process-wide budget for the request-body bytes held in memory at once, across every request
 * in progress (raw uploads, multipart files and /v2 JSON alike). Each request's limit alone does not
 * bound memory: fourteen concurrent uploads of the largest legal size each stay under their own cap.
 *
 * A request holds the bytes it has buffered (all of its declared Content-Length as soon as its
 * headers arrive, so a request that cannot fit is refused before a byte of it is read) until its
 * response closes, because the photos decoded from a body live as long as the request does. A
 * request that does not fit is shed at once with 503 and Retry-After rather than queued: waiting
 * would keep its socket, and the kernel buffers behind it, open while the client cannot tell a
 * queue from a stall. Shedding early and letting clients retry with backoff is what Envoy's overload
 * manager and the Google SRE book's "Handling Overload" chapter prescribe.
 *
 * Usage:
 *   const budget = new BodyBudget(512_000_000);
 *   app.use(budget.perRequest);                     // every request gets an allowance
 *   const allowance = bodyAllowanceOf(request);     // in a body reader
 *   if (!allowance.hold(bytesBufferedSoFar)) throw serverBusy(budget);
 */
export class BodyBudget {
  private held = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) throw new Error(`a body budget must be a positive number of bytes, received ${limitBytes}`);
  }

  /** Bytes held by requests in progress right now. */
  get heldBytes(): number {
    return this.held;
  }

  /** Express middleware: opens an allowance for the request and gives its bytes back when the response closes (answered or aborted). */
  readonly perRequest = (request: IncomingMessage, response: ServerResponse, next: () => void): void => {
    const allowance = new BodyAllowance(this);
    allowances.set(request, allowance);
    response.once("close", () => allowance.release());
    next();
  };

  /** Takes `bytes` more from the budget; false (and nothing taken) when they do not fit. */
  take(bytes: number): boolean {
    if (this.held + bytes > this.limitBytes) return false;
    this.held += bytes;
    return true;
  }

  giveBack(bytes: number): void {
    this.held -= bytes;
  }
}

/** The share of the budget one request holds. */
export class BodyAllowance {
  private heldBytes = 0;
  private released = false;

  constructor(readonly budget: BodyBudget | null) {}

  /** Makes sure `total` bytes in all are held for this request; false when the budget has no room for them. */
  hold(total: number): boolean {
    if (this.released || total <= this.heldBytes || this.budget === null) return true;
    if (!this.budget.take(total - this.heldBytes)) return false;
    this.heldBytes = total;
    return true;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    this.budget?.giveBack(this.heldBytes);
    this.heldBytes = 0;
  }
}

const allowances = new WeakMap<IncomingMessage, BodyAllowance>();

/** The request's allowance; a request that did not pass through `perRequest` (a router used on its own) has no budget to respect. */
export function bodyAllowanceOf(request: IncomingMessage): BodyAllowance {
  return allowances.get(request) ?? new BodyAllowance(null);
}

export function serverBusy(budget: BodyBudget | null): HttpError {
  const limit = budget ? ` of ${budget.limitBytes} bytes (serve.maxBufferedBytes)` : "";
  return new HttpError(503, "server_busy", `the server holds as many request bodies as its memory budget${limit} allows; retry shortly`, { "Retry-After": "1" });
}

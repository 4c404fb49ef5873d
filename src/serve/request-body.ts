import type { IncomingMessage } from "node:http";
import { bodyAllowanceOf, serverBusy } from "./body-budget.js";
import { ClientClosedRequest, HttpError } from "../http/errors.js";

/**
 * Reads a request body chunk by chunk, the one place where the service touches a body stream:
 * the byte cap and the memory budget are enforced as bytes arrive (and from Content-Length before
 * any arrive), each chunk goes to a consumer as it comes, so no work waits for the whole body, and
 * every way a stream can fail becomes an HttpError instead of an unhandled 'error' event:
 *
 * - over the cap: 413; over the process-wide budget: 503 with Retry-After. The rest of the body
 *   is then read and discarded (nothing is kept), so the client can read the answer before its
 *   connection is reused; the server's request timeout bounds how long that may take;
 * - the consumer throws (malformed content): that error, and the rest is discarded the same way;
 * - the client goes away before the body ends: ClientClosedRequest (499, nginx's status for it),
 *   which the error handler neither logs as a failure nor counts as an error.
 */

export interface BodyLimits {
  /** Largest body accepted, in bytes. */
  maxBytes: number;
  /** Says what the cap is for a person reading the 413, e.g. "an inference request". */
  what: string;
}

export const payloadTooLarge = (what: string, limit: number, of = "the limit") =>
  new HttpError(413, "payload_too_large", `${what} is larger than ${of} of ${limit} bytes`);

export function streamRequestBody(request: IncomingMessage, limits: BodyLimits, consume: (chunk: Buffer) => void): Promise<void> {
  const allowance = bodyAllowanceOf(request);
  return new Promise((resolve, reject) => {
    if (request.readableEnded) {
      resolve();
      return;
    }
    if (request.destroyed) {
      reject(new ClientClosedRequest());
      return;
    }
    let received = 0;
    let settled = false;
    // Charges `total` bytes to this request; the error to answer with when they are too many.
    const charge = (total: number): HttpError | null => {
      if (total > limits.maxBytes) return payloadTooLarge(limits.what, limits.maxBytes);
      const budget = allowance.budget;
      if (budget && total > budget.limitBytes) return payloadTooLarge(limits.what, budget.limitBytes, "the server's memory budget for request bodies (serve.maxBufferedBytes)");
      return allowance.hold(total) ? null : serverBusy(budget);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      const refusal = charge(received);
      if (refusal) return refuse(refusal);
      try {
        consume(chunk);
      } catch (error) {
        refuse(error as Error);
      }
    };
    const onEnd = () => settle(null);
    // 'close' without 'end' is a client that went away mid-body (reset, timeout, abort). A request
    // stream emits 'error' only when someone listens; this listener is there so nothing else is needed.
    const onClose = () => settle(request.complete ? null : new ClientClosedRequest());
    const onError = () => settle(new ClientClosedRequest());
    const detach = () => {
      request.off("data", onData);
      request.off("end", onEnd);
      request.off("close", onClose);
    };
    function settle(error: Error | null) {
      if (settled) return;
      settled = true;
      detach();
      if (error === null) resolve();
      else reject(error);
    }
    // Read the rest of the body into nothing, so the answer to this request can be sent and read.
    function refuse(error: Error) {
      settle(error);
      request.resume();
    }

    const declared = Number(request.headers["content-length"]);
    const refusal = Number.isSafeInteger(declared) && declared > 0 ? charge(declared) : null;
    if (refusal) return refuse(refusal);
    // Never detached: once a refused body is being discarded, a reset must still find a listener.
    request.on("error", onError);
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("close", onClose);
  });
}

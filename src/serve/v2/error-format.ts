import type { Socket } from "node:net";
import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import type { Logger } from "../../log.js";
import { HttpError, jsonErrorHandler, type ErrorBody, type OnError } from "../errors.js";

/**
 * How every failed /v2 request answers: inference_rest.md's error object, `{"error": "<message>"}`
 * ($inference_error_response and the metadata error objects alike), with faceops' machine-readable
 * code beside it as `code`; the spec's error schemas do not forbid more properties. /v1 keeps
 * faceops' own {error: {code, message}}: these handlers act on /v2 paths only.
 */

export const openInferenceErrorBody: ErrorBody = (error) => ({ error: error.message, code: error.code });

export const isOpenInferencePath = (request: Request) => request.path === "/v2" || request.path.startsWith("/v2/");

/** A /v2 path no route answered: the protocol's 404, not the app's. */
export const openInferenceNotFound: RequestHandler = (request, _response, next) => {
  next(isOpenInferencePath(request) ? new HttpError(404, "not_found", `no route ${request.method} ${request.path}`) : undefined);
};

/**
 * Past this many unread bytes a refused request's connection is closed rather than drained: Go's
 * net/http does the same past 256 KiB. Draining costs as much as reading the body, so a client that
 * sends 200 MB to an unknown model would otherwise still have all of it read.
 */
const drainableBytes = 256 * 1024;

/**
 * Answers a /v2 error in the protocol's format, counted and logged like every other error. When
 * the request's body was not read to its end (refused before reading, or cut at the size limit)
 * and what is left may be large, the answer says `Connection: close` so Node closes the socket
 * after it instead of reading and discarding the rest.
 */
export function openInferenceErrors(log: Logger, onError?: OnError): ErrorRequestHandler {
  const answer = jsonErrorHandler(log, onError, openInferenceErrorBody);
  return (error: unknown, request, response, next) => {
    if (!isOpenInferencePath(request)) {
      next(error);
      return;
    }
    if (bodyLeftUnread(request) && !response.headersSent) {
      response.setHeader("Connection", "close");
      lingerBeforeClosing(request);
    }
    answer(error, request, response, next);
  };
}

/** How long a refused request's connection stays half-closed before it is cut: Go's net/http waits as long. */
const lingerMs = 500;

/**
 * Node ends a `Connection: close` answer with `socket.destroySoon()`: a FIN, then the socket is
 * destroyed as soon as the answer is flushed. A client still sending its body then has its next
 * bytes answered with a TCP reset, which can reach it before it has read the answer (fetch fails
 * with "other side closed" instead of seeing the 404). So this connection closes the way Go's
 * net/http and nginx's lingering_close do: the FIN at once, what keeps arriving read and discarded
 * (Node's parser dumps an unread body; nothing is buffered), and the socket cut after `lingerMs`
 * if the client has not finished by then.
 */
function lingerBeforeClosing(request: Request): void {
  const socket = request.socket;
  socket.destroySoon = function lingeringClose(this: Socket) {
    if (this.writable) this.end();
    request.resume();
    const cut = setTimeout(() => this.destroy(), lingerMs);
    cut.unref();
    this.once("close", () => clearTimeout(cut));
  };
}

/** True when the rest of the body may be large: a declared length past the threshold, or a chunked body of unknown length. */
function bodyLeftUnread(request: Request): boolean {
  if (request.complete) return false;
  if (request.headers["transfer-encoding"] !== undefined) return true;
  return Number(request.headers["content-length"] ?? 0) > drainableBytes;
}

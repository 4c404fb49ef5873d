import type { Socket } from "node:net";
import type { ErrorRequestHandler, Request, RequestHandler } from "express";
import type { Logger } from "../../log.js";
import { HttpError, jsonErrorHandler, type ErrorBody, type OnError } from "../../http/errors.js";

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
      lingerBeforeClosing(request.socket);
    }
    answer(error, request, response, next);
  };
}

/** How long the rest of a refused body is read and dropped before its connection is closed (Go's rstAvoidanceDelay). */
const lingerMs = 500;

/*
 * Node closes a `Connection: close` socket as soon as the answer is written (destroySoon). With the
 * client still sending its body, unread bytes are left in the socket, and closing it then makes the
 * kernel send a reset, which can reach the client before it has read the answer: fetch reported
 * EPIPE instead of the 404 in 12 of 20 uploads of 211 MB to an unknown model. As Go's server does
 * (closeWriteAndWait), this socket closes its own side first and keeps reading and dropping what
 * still arrives for lingerMs, so the answer is read; then it is destroyed, whatever is left unread.
 */
function lingerBeforeClosing(socket: Socket): void {
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    socket.once("close", () => clearTimeout(timer));
  };
}

/** True when the rest of the body may be large: a declared length past the threshold, or a chunked body of unknown length. */
function bodyLeftUnread(request: Request): boolean {
  if (request.complete) return false;
  if (request.headers["transfer-encoding"] !== undefined) return true;
  return Number(request.headers["content-length"] ?? 0) > drainableBytes;
}

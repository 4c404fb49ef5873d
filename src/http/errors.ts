import type { ErrorRequestHandler, Express, NextFunction, Request, Response } from "express";
import type { Logger } from "../log.js";

/**
 * How every faceops HTTP server (the inference service and the controller's API) answers errors:
 * JSON, with a status, a stable code tools can match on and a sentence for people. A protocol with
 * its own error body (the Open Inference Protocol under /v2, serve/v2/error-format.ts) builds on
 * jsonErrorHandler and keeps the same status, logging and counting.
 */

/**
 * Errors a server answers with on purpose. Anything else reaching the error handler is a bug and
 * answers 500.
 */
export class HttpError extends Error {
  override readonly name = "HttpError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);

/** Writes an error as a protocol's body; faceops' own is {error: {code, message}}. */
export type ErrorBody = (error: HttpError) => unknown;

const faceopsErrorBody: ErrorBody = (error) => ({ error: { code: error.code, message: error.message } });

/** Called once per error answered, with its status and code: the inference service counts them in its metrics. */
export type OnError = (status: number, code: string) => void;

/** nginx's status for a request whose client closed the connection before the answer; never sent, only recorded. */
export const clientClosedRequest = 499;

/** The client closed its connection before its request was answered: there is no one left to answer. */
export class ClientClosedRequest extends HttpError {
  constructor() {
    super(clientClosedRequest, "client_closed_request", "the client closed the connection before its request was answered");
  }
}

/**
 * The last two handlers of every faceops app: a JSON 404 for unknown routes, and the error handler
 * that answers {error: {code, message}} with the error's status (500 only for our own bugs, logged).
 */
export function useJsonErrors(app: Express, log: Logger, onError?: OnError): void {
  app.use((request, _response, next) => next(new HttpError(404, "not_found", `no route ${request.method} ${request.path}`)));
  app.use(jsonErrorHandler(log, onError));
}

/**
 * The error handler itself, for a router whose protocol writes errors its own way (`body`): the
 * status, headers, logging of our own bugs and counting are the same for every protocol.
 */
export function jsonErrorHandler(log: Logger, onError?: OnError, body: ErrorBody = faceopsErrorBody): ErrorRequestHandler {
  // Express recognises an error handler by its four parameters.
  return (error: unknown, request: Request, response: Response, _next: NextFunction) => {
    const known = toHttpError(error);
    // A client that went away mid-request is no failure of ours and there is no one to answer:
    // not logged as an error, not counted as one (the duration histogram records it as 499).
    if (known.status === clientClosedRequest) {
      log.debug({ method: request.method, path: request.path }, "the client closed the connection before the answer");
      response.destroy();
      return;
    }
    if (known.code === "internal") log.error({ err: error, method: request.method, path: request.path }, "request failed");
    onError?.(known.status, known.code);
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(known.status).set(known.headers).json(body(known));
  };
}

/** Errors from Express' own parsers carry a status; anything else is an internal error. */
function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  // Express' body parsers (express.json, express.raw) report a client that hung up mid-body as a 400.
  if ((error as { type?: unknown }).type === "request.aborted") return new ClientClosedRequest();
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) {
    return new HttpError(status, (error as { type?: string }).type ?? "bad_request", (error as Error).message);
  }
  return new HttpError(500, "internal", "the server failed to answer this request; the error is in its log");
}

/**
 * Errors the service answers with on purpose: a status, a stable code tools can match on, and a
 * sentence for people. Anything else reaching the error handler is a bug and answers 500.
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

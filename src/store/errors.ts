/**
 * Errors of the machine rather than of the data: a full disk or quota, too many open files, an I/O
 * error of the device, no memory for a new process. Retrying later can succeed, so they are never a
 * reason to give up on a dataset; they are retried with backoff.
 */
export const transientErrorCodes: readonly string[] = ["ENOSPC", "EDQUOT", "EMFILE", "ENFILE", "EIO", "ENOMEM", "EAGAIN", "EBUSY"];

const codeInMessage = new RegExp(`\\b(${transientErrorCodes.join("|")})\\b`);

/**
 * The transient error code of `error` or of any error it was caused by (an errno code, or one named
 * in a message that wrapped it without keeping the cause), or null.
 */
export function transientErrorCode(error: unknown): string | null {
  const seen = new Set<unknown>();
  for (let current: unknown = error; current instanceof Error && !seen.has(current); current = current.cause) {
    seen.add(current);
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === "string" && transientErrorCodes.includes(code)) return code;
    const named = codeInMessage.exec(current.message)?.[1];
    if (named) return named;
  }
  return null;
}

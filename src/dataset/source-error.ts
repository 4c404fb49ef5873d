/** The face repository cannot be read or written as asked; the message says why, without credentials. */
export class SourceError extends Error {
  override readonly name: string = "SourceError";
}

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

/** The hex digest of a file's bytes, streamed: weights files are too large to read whole. */
export async function hashFile(path: string, algorithm: "md5" | "sha256"): Promise<string> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

import { randomBytes } from "node:crypto";
import { link, mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { isAlive, type ProcessIdentity } from "../platform/local/process-identity.js";

/**
 * A lock file owned by one live process: created with link(2), which fails when the file exists, so
 * two processes can never both hold it. A lock whose holder has died (kill -9, a crash, a reboot)
 * is stale and is taken over; its holder is named by pid and start time, so a reused pid does not
 * keep a dead holder's lock alive.
 */

export interface LockHolder extends ProcessIdentity {
  acquiredAt: string;
  [detail: string]: unknown;
}

export type LockResult = { acquired: true; holder: LockHolder } | { acquired: false; holder: LockHolder };

export async function readLock(path: string): Promise<LockHolder | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as LockHolder;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    if (error instanceof SyntaxError) return null;
    throw error;
  }
}

export async function acquireLock(path: string, holder: LockHolder): Promise<LockResult> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.new-${process.pid}-${randomBytes(4).toString("hex")}`;
  await writeFile(temporary, `${JSON.stringify(holder)}\n`, { flush: true });
  try {
    for (let tries = 0; tries < 3; tries++) {
      try {
        await link(temporary, path);
        return { acquired: true, holder };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      }
      const current = await readLock(path);
      if (current && (await isAlive(current))) return { acquired: false, holder: current };
      // Stale (or unreadable, half-written by a holder that died): move it aside, then try again.
      const stale = `${path}.stale-${randomBytes(4).toString("hex")}`;
      const moved = await rename(path, stale).then(
        () => true,
        (error: NodeJS.ErrnoException) => {
          if (error.code !== "ENOENT") throw error;
          return false;
        },
      );
      if (moved) await rm(stale, { force: true });
    }
    const current = await readLock(path);
    if (current) return { acquired: false, holder: current };
    throw new Error(`cannot take the lock ${path}: it keeps changing hands`);
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Removes the lock when `holder` still holds it. */
export async function releaseLock(path: string, holder: ProcessIdentity): Promise<void> {
  const current = await readLock(path);
  if (current && current.pid === holder.pid && current.startTime === holder.startTime) await rm(path, { force: true });
}

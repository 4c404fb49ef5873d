import { createHash, randomBytes } from "node:crypto";
import { link, mkdir, open, readFile, rm, unlink, writeFile } from "node:fs/promises";
import { dirname } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { isAlive, type ProcessIdentity } from "./process-identity.js";
import { currentOwner, temporaryPath } from "./owner.js";

/**
 * A lock file owned by one live process: created with link(2), which fails when the file exists, so
 * two processes can never both create it. A lock whose holder has died (kill -9, a crash, a reboot)
 * is stale and is taken over; its holder is named by pid and start time, so a reused pid does not
 * keep a dead holder's lock alive.
 *
 * Taking over must not race: two processes that both find the same stale lock must not both end up
 * holding the lock (one removing the stale file, creating its own, and the other then removing that
 * one). So a stale lock is removed only by the one process that claims it: the claim is a file named
 * after that very lock file (its inode and a hash of its content), created with link(2) as well, so
 * exactly one claim on one stale lock succeeds. Only a claimant removes the lock file, and only while
 * it is still the instance claimed; a lock file appears only where there is none. Then every
 * contender tries link(2) again, and exactly one wins. A claim left by a claimant that died is itself
 * stale, and is removed by the same rule, one level down.
 */

export interface LockHolder extends ProcessIdentity {
  acquiredAt: string;
  [detail: string]: unknown;
}

export type LockResult = { acquired: true; holder: LockHolder } | { acquired: false; holder: LockHolder };

/** One lock (or claim) file as it is on disk: which instance it is, and the holder it names (null: unreadable). */
export interface LockInstance {
  id: string;
  holder: LockHolder | null;
}

export async function readLock(path: string): Promise<LockHolder | null> {
  try {
    return parseHolder(await readFile(path, "utf8"));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

function parseHolder(text: string): LockHolder | null {
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder> | null;
    return parsed && typeof parsed === "object" && typeof parsed.pid === "number" ? (parsed as LockHolder) : null;
  } catch {
    return null;
  }
}

/** Reads a lock file through one descriptor, so its identity and its content are of the same file. */
export async function readInstance(path: string): Promise<LockInstance | null> {
  let handle;
  try {
    handle = await open(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
  try {
    const { ino } = await handle.stat();
    const bytes = await handle.readFile();
    return { id: `${ino}-${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}`, holder: parseHolder(bytes.toString("utf8")) };
  } finally {
    await handle.close();
  }
}

/** Creates `path` holding `contents` with link(2): true when it did, false when the file exists. */
async function createExclusive(path: string, contents: string): Promise<boolean> {
  const temporary = await temporaryPath(path, "new");
  await writeFile(temporary, contents, { flush: true });
  try {
    await link(temporary, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  } finally {
    await rm(temporary, { force: true });
  }
}

/** Tries to take the lock; answers who holds it when another live process does. */
export async function acquireLock(path: string, holder: LockHolder): Promise<LockResult> {
  await mkdir(dirname(path), { recursive: true });
  const owner = await currentOwner();
  // The scope and a nonce make every lock file's content unique, and say where its pid makes sense.
  const mine: LockHolder = { ...holder, scope: owner.scope, nonce: randomBytes(8).toString("hex") };
  const contents = `${JSON.stringify(mine)}\n`;
  for (let tries = 0; tries < 200; tries++) {
    if (await createExclusive(path, contents)) return { acquired: true, holder: mine };
    const current = await readInstance(path);
    if (!current) continue;
    if (current.holder && (await isAlive(current.holder))) return { acquired: false, holder: current.holder };
    // Stale, or unreadable (a file no faceops writes): removed by its one claimant, then contended for again.
    if ((await removeStale(path, current.id, 0)) === "busy") await delay(2 + Math.random() * 8);
  }
  const current = await readLock(path);
  if (current && (await isAlive(current))) return { acquired: false, holder: current };
  throw new Error(`cannot take the lock ${path}: its stale holder could not be removed (another process keeps claiming it)`);
}

/** Nested claims (on claims of claimants that died) followed before giving up for now. */
const maxClaimDepth = 4;

/**
 * Removes the lock file `path` if it is still the instance `id` (whose holder is gone), as the one
 * process that claims it. "removed": it is gone (by us or by an earlier claimant); "busy": a live
 * claimant is at it, try again shortly.
 */
export async function removeStale(path: string, id: string, depth: number): Promise<"removed" | "busy"> {
  const claim = `${path}.takeover-${id}`;
  const owner = await currentOwner();
  const claimant: LockHolder = { pid: owner.pid, startTime: owner.startTime, scope: owner.scope, acquiredAt: new Date().toISOString(), claims: id, nonce: randomBytes(8).toString("hex") };
  if (!(await createExclusive(claim, `${JSON.stringify(claimant)}\n`))) {
    const other = await readInstance(claim);
    if (!other) return "busy";
    if (other.holder && (await isAlive(other.holder))) return "busy";
    if (depth >= maxClaimDepth) return "busy";
    await removeStale(claim, other.id, depth + 1);
    return "busy";
  }
  try {
    // Only a claimant removes a lock file, and no lock file is created where one exists: while we
    // hold the claim, `path` stays the instance we read unless an earlier claimant already removed it.
    const current = await readInstance(path);
    if (current?.id === id) await unlink(path).catch(ignoreMissing);
    return "removed";
  } finally {
    await unlink(claim).catch(ignoreMissing);
  }
}

function ignoreMissing(error: NodeJS.ErrnoException): void {
  if (error.code !== "ENOENT") throw error;
}

/** Removes the lock when `holder` still holds it. */
export async function releaseLock(path: string, holder: ProcessIdentity): Promise<void> {
  const current = await readLock(path);
  if (current && current.pid === holder.pid && current.startTime === holder.startTime) await rm(path, { force: true });
}

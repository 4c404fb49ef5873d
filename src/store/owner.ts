import { createHash, randomBytes } from "node:crypto";
import { readFile, readlink } from "node:fs/promises";
import { currentProcessIdentity, isAlive, type ProcessIdentity } from "./process-identity.js";

/**
 * Who made a temporary file in the store, or holds a lock: a process named by its pid and start
 * time, and the scope those make sense in. The store may be a volume shared by several machines or
 * pods, each with its own pids: a pid says nothing about a process of another scope, so only a
 * process of our own scope can be proven gone. The scope is this boot of this machine and its PID
 * namespace (a container has its own).
 */

export interface Owner extends ProcessIdentity {
  /** Boot and PID namespace, hashed; null where the platform does not say (nothing is then provable). */
  scope: string | null;
}

let current: Promise<Owner> | null = null;

async function computeScope(): Promise<string | null> {
  const boot = await readFile("/proc/sys/kernel/random/boot_id", "utf8").catch(() => null);
  const namespace = await readlink("/proc/self/ns/pid").catch(() => null);
  if (!boot || !namespace) return null;
  return createHash("sha256").update(`${boot.trim()} ${namespace}`).digest("hex").slice(0, 8);
}

/** This process as an owner. */
export function currentOwner(): Promise<Owner> {
  current ??= (async () => ({ ...(await currentProcessIdentity()), scope: await computeScope() }))();
  return current;
}

/**
 * "gone" only when `owner` is certainly not running: of our scope, with a known start time, and no
 * such process alive; "alive" when it certainly is; "unknown" for a pid without a start time, or of
 * another machine or container.
 */
export async function ownerState(owner: { pid?: unknown; startTime?: unknown; scope?: unknown }): Promise<"gone" | "alive" | "unknown"> {
  const me = await currentOwner();
  if (me.scope === null || owner.scope !== me.scope) return "unknown";
  if (typeof owner.pid !== "number" || typeof owner.startTime !== "string") return "unknown";
  return (await isAlive({ pid: owner.pid, startTime: owner.startTime })) ? "alive" : "gone";
}

/** The kinds of temporary names the store uses, each a sibling of what it becomes. */
export type TemporaryKind = "tmp" | "new" | "partial";

/**
 * A unique temporary name beside `path` that names its owner: `<path>.<kind>-<pid>_<start>_<scope>-<random>`,
 * so that a stray one can be told from one still being written.
 */
export async function temporaryPath(path: string, kind: TemporaryKind): Promise<string> {
  const owner = await currentOwner();
  return `${path}.${kind}-${owner.pid}_${owner.startTime ?? "x"}_${owner.scope ?? "x"}-${randomBytes(4).toString("hex")}`;
}

const temporaryName = /\.(tmp|new|partial)-([0-9]+)_([0-9]+|x)_([0-9a-f]{8}|x)-[0-9a-f]{8}$/;

/** The owner a temporary name records, or null when the name is not one of temporaryPath()'s. */
export function temporaryOwner(name: string): Owner | null {
  const match = temporaryName.exec(name);
  if (!match) return null;
  const [, , pid, startTime, scope] = match;
  return { pid: Number(pid), startTime: startTime === "x" ? null : (startTime ?? null), scope: scope === "x" ? null : (scope ?? null) };
}

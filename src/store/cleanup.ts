import { lstat, readdir, rm } from "node:fs/promises";
import { join, relative } from "node:path";
import { readInstance, removeStale } from "./lock.js";
import { ownerState, temporaryOwner } from "./owner.js";
import type { StoreLayout } from "./layout.js";

/**
 * Strays a crash leaves in the store: temporary files and folders of atomic writes (`.tmp-`, `.new-`,
 * `.partial-` names that record their writer), takeover claims of lock files, locks moved aside by an
 * older faceops, and lock files of processes that died. Each is removed only when its owner is
 * provably gone (see owner.ts): of this machine and container, and not running. What cannot be
 * proven (an older name without the writer's start time, a writer of another pod sharing the store)
 * is kept and reported.
 */

export interface CleanupReport {
  /** Paths removed, relative to the store. */
  removed: string[];
  /** Strays kept because their owner cannot be proven gone, relative to the store. */
  kept: string[];
}

/** Folders below the store root walked for strays; git's own files in clones are not faceops'. */
const maxDepth = 4;
const claimName = /\.takeover-[0-9]+-[0-9a-f]{16}$/;
const movedAsideLock = /\.stale-[0-9a-f]{8}$/;
const olderTemporaryName = /\.(tmp|new)-[0-9]+-[0-9a-f]{8}$|\.partial-[0-9]+$/;

export async function cleanStaleFiles(store: StoreLayout): Promise<CleanupReport> {
  const report: CleanupReport = { removed: [], kept: [] };
  const visit = async (folder: string, depth: number): Promise<void> => {
    const entries = await readdir(folder, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") return [];
      throw error;
    });
    for (const entry of entries) {
      const path = join(folder, entry.name);
      const name = relative(store.root, path);
      const verdict = await judge(path, entry.name);
      if (verdict === "remove") {
        await rm(path, { recursive: true, force: true });
        report.removed.push(name);
        continue;
      }
      if (verdict === "keep") {
        report.kept.push(name);
        continue;
      }
      const inClone = relative(store.root, folder) === "sources";
      if (entry.isDirectory() && !entry.isSymbolicLink() && depth < maxDepth && !inClone) await visit(path, depth + 1);
    }
  };
  await visit(store.root, 0);
  return report;
}

/**
 * What to do with one entry: remove it (a stray whose owner is gone; the caller removes it, unless it
 * is gone already), keep it (a stray whose owner cannot be proven gone), or null: not a stray, or
 * one still in use.
 */
async function judge(path: string, name: string): Promise<"remove" | "keep" | null> {
  const owner = temporaryOwner(name);
  if (owner) {
    const state = await ownerState(owner);
    return state === "gone" ? "remove" : state === "unknown" ? "keep" : null;
  }
  if (movedAsideLock.test(name)) return "remove";
  if (claimName.test(name)) {
    const outcome = await removeStaleLock(path);
    return outcome === "removed" ? "remove" : outcome === "unknown" ? "keep" : null;
  }
  if (olderTemporaryName.test(name)) return "keep";
  return null;
}

/**
 * Removes a lock (or takeover claim) file whose holder is provably gone, by the same one-claimant rule
 * as a takeover, so that it cannot race a process taking it over. "alive": its holder runs;
 * "unknown": its holder cannot be proven gone (unreadable, another pod's, an older faceops').
 */
export async function removeStaleLock(path: string): Promise<"removed" | "alive" | "unknown"> {
  const instance = await readInstance(path);
  if (!instance) return "removed";
  const state = instance.holder ? await ownerState(instance.holder) : "unknown";
  if (state !== "gone") return state;
  await removeStale(path, instance.id, 0);
  return (await lstat(path).catch(() => null)) === null ? "removed" : "alive";
}

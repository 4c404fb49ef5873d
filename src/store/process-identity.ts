import { readFile } from "node:fs/promises";

/**
 * A process named by its pid and its start time, so that a pid the kernel has since reused for
 * another program is not mistaken for the process a record names. On Linux the start time is field
 * 22 of /proc/<pid>/stat (clock ticks since boot); elsewhere it is unavailable and the pid alone
 * is checked.
 */

export interface ProcessIdentity {
  pid: number;
  /** Kernel start time of the process, or null where the platform does not expose it. */
  startTime: string | null;
}

export async function processStartTime(pid: number): Promise<string | null> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so field 22 is fields[19].
  return fields[19] ?? null;
}

export async function currentProcessIdentity(): Promise<ProcessIdentity> {
  return { pid: process.pid, startTime: await processStartTime(process.pid) };
}

/** True when the very process the identity names is still running (a zombie counts as gone). */
export async function isAlive(identity: ProcessIdentity): Promise<boolean> {
  try {
    process.kill(identity.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = await readFile(`/proc/${identity.pid}/stat`, "utf8").catch(() => null);
  if (stat === null) return identity.startTime === null;
  const state = stat.slice(stat.lastIndexOf(")") + 2).split(" ")[0];
  if (state === "Z" || state === "X") return false;
  return identity.startTime === null || (await processStartTime(identity.pid)) === identity.startTime;
}

import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { Split } from "./split.js";

/**
 * The split every photo was given when first seen, by content hash, kept in the store. Entries are
 * only ever added: a photo that leaves the dataset and comes back returns to its old split.
 */
export class SplitLedger {
  private constructor(
    private readonly path: string | null,
    readonly splits: Map<string, Split>,
  ) {}

  static async load(path: string): Promise<SplitLedger> {
    const stored = await readJsonOr<{ version: 1; splits: Record<string, Split> } | null>(path, null);
    return new SplitLedger(path, new Map(Object.entries(stored?.splits ?? {})));
  }

  static inMemory(): SplitLedger {
    return new SplitLedger(null, new Map());
  }

  /** Records new assignments; existing ones are never overwritten. Returns how many were new. */
  async record(assigned: ReadonlyMap<string, Split>): Promise<number> {
    let added = 0;
    for (const [sha256, split] of assigned) {
      if (this.splits.has(sha256)) continue;
      this.splits.set(sha256, split);
      added++;
    }
    if (added === 0 || !this.path) return added;
    // Merge with what another process may have recorded meanwhile; theirs wins for shared keys.
    const stored = await readJsonOr<{ version: 1; splits: Record<string, Split> } | null>(this.path, null);
    for (const [sha256, split] of Object.entries(stored?.splits ?? {})) this.splits.set(sha256, split);
    await writeJsonAtomic(this.path, { version: 1, splits: Object.fromEntries(this.splits) }, { compact: true });
    return added;
  }
}

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let collector: (() => void) | null = null;

/**
 * A full, synchronous garbage collection on demand, without starting node with --expose-gc (the test
 * runner starts each file's process; its flags are not ours to set). V8 installs `gc` on contexts
 * created after the flag is set, so a fresh vm context hands it over. Heap figures read right after
 * it are the live heap, not whatever garbage the last collection happened to leave.
 */
export function collectGarbage(): void {
  if (collector === null) {
    setFlagsFromString("--expose-gc");
    collector = runInNewContext("gc") as () => void;
  }
  collector();
}

/** The live heap in bytes: heapUsed right after a full collection. */
export function liveHeapBytes(): number {
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

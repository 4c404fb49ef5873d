import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { currentProcessIdentity } from "../../src/store/process-identity.js";
import { acquireLock } from "../../src/store/lock.js";

/**
 * One contender process of the lock race test (test/store/lock.test.ts):
 * `lock-racer.ts <folder> <rounds> <racers> <name>`. Prints "ready", waits for <folder>/go (the start
 * time, in ms), then in round k (at start + k * 150 ms) runs <racers> concurrent acquireLock() on
 * <folder>/lock-<k> and prints one JSON line per racer. It stays alive (a winner keeps its lock
 * alive) until its standard input closes.
 */

const [folder = "", roundsText = "1", racersText = "1", name = "racer"] = process.argv.slice(2);
const rounds = Number(roundsText);
const racers = Number(racersText);
const identity = await currentProcessIdentity();
process.stdout.write("ready\n");
const go = join(folder, "go");
while (!existsSync(go)) await delay(5);
const start = Number(readFileSync(go, "utf8"));
for (let round = 0; round < rounds; round++) {
  const at = start + round * 150;
  if (Date.now() < at) await delay(at - Date.now());
  const path = join(folder, `lock-${round}`);
  const outcomes = await Promise.all(
    Array.from({ length: racers }, async (_, index) => {
      const racer = `${name}-${index}`;
      try {
        const result = await acquireLock(path, { ...identity, acquiredAt: new Date().toISOString(), racer });
        return { round, racer, acquired: result.acquired };
      } catch (error) {
        return { round, racer, acquired: false, error: (error as Error).message };
      }
    }),
  );
  for (const outcome of outcomes) process.stdout.write(`${JSON.stringify(outcome)}\n`);
}
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));

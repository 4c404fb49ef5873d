import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import sharp from "sharp";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { checkDataset } from "../src/dataset/check.js";
import { configSchema } from "../src/config/schema.js";
import { silentLogger } from "../src/log.js";
import { StoreLayout } from "../src/store/layout.js";
import { lfwRoot } from "../test/helpers/lfw.js";
import type { BenchResult } from "./result.js";

/**
 * The dataset check on all of lfw-min10 (4,324 photos): a cold check (every photo decoded, in
 * parallel), a warm re-check, and a re-check after one added photo, as a plain folder and as a git
 * repository. The peer is what a user would write without faceops: Pillow opening and fully
 * decoding every file, in as many processes as there are cores (bench/peers/pil_verify.py).
 */
const lfw = lfwRoot;

export async function benchDatasetCheck(): Promise<BenchResult> {
  const scratch = mkdtempSync(join(tmpdir(), "faceops-bench-dataset-"));
  const dataset = configSchema.parse({}).dataset;
  const check = async (location: string, store: string) => {
    const started = performance.now();
    const manifest = await checkDataset({ location, dataset, store: new StoreLayout(store), log: silentLogger(), env: process.env });
    return { manifest, seconds: (performance.now() - started) / 1000 };
  };
  try {
    const cold = await check(lfw, join(scratch, "store-folder"));
    const warm = await check(lfw, join(scratch, "store-folder"));

    // One added photo: a copy of the dataset plus a photo none of it has (a mirrored one).
    const copy = join(scratch, "lfw-copy");
    cpSync(lfw, copy, { recursive: true });
    await sharp(join(copy, "Hans_Blix", "Hans_Blix_0001.jpg")).flop().jpeg().toFile(join(copy, "Hans_Blix", "added.jpg"));
    cpSync(join(scratch, "store-folder"), join(scratch, "store-copy"), { recursive: true });
    const added = await check(copy, join(scratch, "store-copy"));

    // The same photos as a git repository: known blobs are not even read on a re-check.
    const git = (...args: string[]) => execFileSync("git", args, { cwd: copy, stdio: "ignore" });
    git("init", "--quiet", "--initial-branch=main");
    git("add", "--all");
    git("-c", "user.name=bench", "-c", "user.email=bench@faceops.invalid", "commit", "--quiet", "-m", "lfw");
    const gitCold = await check(copy, join(scratch, "store-git"));
    const gitWarm = await check(copy, join(scratch, "store-git"));

    const peerRun = spawnSync("/usr/bin/python3", [join(import.meta.dirname, "peers/pil_verify.py"), lfw, String(cpus().length)], { encoding: "utf8" });
    const peer = peerRun.status === 0 ? (JSON.parse(peerRun.stdout) as { photos_per_s: number; seconds: number }) : null;

    const photos = cold.manifest.stats.photos;
    const rate = photos / cold.seconds;
    const rows: BenchResult["rows"] = [
      { metric: "photos checked", value: photos, unit: "photos" },
      { metric: "cold check (folder)", value: rate, unit: "photos/s", note: `${cold.seconds.toFixed(2)} s, ${cold.manifest.stats.decoded} decoded; target >= 500` },
      { metric: "warm re-check (folder)", value: warm.seconds, unit: "s", note: `${warm.manifest.stats.decoded} decoded` },
      { metric: "re-check after 1 added photo", value: added.manifest.stats.decoded, unit: "decodes", note: `${added.seconds.toFixed(2)} s` },
      { metric: "cold check (git)", value: photos / gitCold.seconds, unit: "photos/s", note: `${gitCold.seconds.toFixed(2)} s` },
      { metric: "warm re-check (git)", value: gitWarm.seconds, unit: "s", note: `${gitWarm.manifest.stats.read} files read` },
    ];
    if (peer) {
      rows.push(
        { metric: "peer: Pillow full decode", value: peer.photos_per_s, unit: "photos/s", note: `${cpus().length} processes, ${peer.seconds.toFixed(2)} s` },
        { metric: "ratio cold check / peer", value: rate / peer.photos_per_s, unit: "x" },
        { metric: "ratio warm re-check / peer", value: peer.seconds / warm.seconds, unit: "x faster" },
      );
    } else {
      rows.push({ metric: "peer: Pillow", value: 0, unit: "-", note: `not run: ${peerRun.stderr?.trim().split("\n").pop() ?? "python3-pil missing"}` });
    }
    return { name: "dataset check: lfw-min10", rows, environment: { cpus: cpus().length } };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { BundleError, bundleFileCeilings, loadBundle, metadataMaxBytes, saveBundle, type BundleMetadata } from "../../../src/model/bundle.js";
import { createHead, predictHead } from "../../../src/model/head.js";
import { ReferenceSet } from "../../../src/model/open-set.js";
import { loadTf } from "../../../src/model/tfjs-engine.js";
import { temporaryFolder } from "../../helpers/git-repo.js";

const scaling = { mean: Float32Array.from({ length: 8 }, (_, index) => index), scale: new Float32Array(8).fill(0.5) };

function metadata(): Omit<BundleMetadata, "files" | "fileBytes"> {
  const evaluation = { accuracy: 0.9, balancedAccuracy: 0.85, top3Accuracy: 1, loss: 0.3, samples: 10, perLabel: [], confusion: [] };
  return {
    schemaVersion: 1,
    name: "faces",
    createdAt: "2026-11-28T00:00:00.000Z",
    labels: ["ann", "bob", "cat"],
    backbone: {
      id: "vgg16",
      fingerprint: "vgg16-test",
      weightsSha256: "random:1",
      randomWeights: true,
      weightsSource: "random:1",
      engine: "onnxruntime-cpu",
      inputSize: 224,
      featureLength: 8,
      preprocessing: "caffe",
      pooling: "avg",
    },
    crop: { mode: "center", detector: null, medianBox: null, counts: { center: 10 } },
    head: { inputLength: 8, units: 4, dropout: 0.5, classes: 3, engine: "tfjs-wasm" },
    hyperparameters: { epochs: 5, learningRate: 0.001 },
    metrics: { ...evaluation, nearestClassMeanAccuracy: 0.8, curves: [], keptEpoch: 5, stoppedEarly: false },
    dataset: { source: "/faces", commit: null, fingerprint: "f".repeat(64), photos: 50, train: 40, test: 10 },
  };
}

describe("model bundle", () => {
  const folder = temporaryFolder();
  after(() => folder.dispose());

  test("round trip: the loaded head predicts exactly what the saved one did", async () => {
    const { tf } = await loadTf();
    const head = createHead(tf, { inputLength: 8, classes: 3, units: 4, dropout: 0.5, seed: 3 });
    const directory = join(folder.path, "bundle");
    const saved = await saveBundle(directory, { metadata: metadata(), head, scaling, tf });
    assert.deepEqual(Object.keys(saved.files).sort(), ["head/model.json", "head/scaling.bin", "head/weights.bin"]);
    // Each file's size is recorded beside its checksum: the loader reads no more than that.
    assert.deepEqual(Object.keys(saved.fileBytes ?? {}).sort(), Object.keys(saved.files).sort());
    for (const [path, size] of Object.entries(saved.fileBytes ?? {})) assert.equal(statSync(join(directory, path)).size, size, path);
    assert.equal(saved.fileBytes?.["head/scaling.bin"], 64);
    const loaded = await loadBundle(directory);
    assert.deepEqual(loaded.metadata, saved);
    assert.deepEqual(loaded.scaling, scaling);
    const restored = await loaded.loadHead(tf);
    const inputs = [Float32Array.from({ length: 8 }, (_, index) => index / 8), new Float32Array(8).fill(-1)];
    assert.deepEqual(predictHead(tf, restored, inputs), predictHead(tf, head, inputs));
    assert.deepEqual(readdirSync(folder.path), ["bundle"], "no temporary folder is left behind");
  });

  test("a tampered weight file makes the load fail, naming the file", async () => {
    const directory = join(folder.path, "bundle");
    const weights = join(directory, "head", "weights.bin");
    const original = readFileSync(weights);
    const altered = Buffer.from(original);
    altered[0] = (altered[0] as number) ^ 0xff;
    writeFileSync(weights, altered);
    await assert.rejects(loadBundle(directory), (error: Error) => error instanceof BundleError && /head\/weights\.bin does not match its checksum/.test(error.message));
    writeFileSync(weights, original);
    await loadBundle(directory);
  });

  test("a missing file, an unlisted file or foreign metadata is refused", async () => {
    const directory = join(folder.path, "bundle");
    writeFileSync(join(directory, "head", "extra.bin"), "x");
    await assert.rejects(loadBundle(directory), /holds head\/extra\.bin, which its metadata does not list/);
    const { rmSync } = await import("node:fs");
    rmSync(join(directory, "head", "extra.bin"));
    const model = readFileSync(join(directory, "head", "model.json"));
    rmSync(join(directory, "head", "model.json"));
    await assert.rejects(loadBundle(directory), /is missing head\/model\.json/);
    writeFileSync(join(directory, "head", "model.json"), model);
    await assert.rejects(loadBundle(folder.path), /cannot be read as a bundle's metadata/);
  });

  test("open-set references round trip and are verified like every other file", async () => {
    const { tf } = await loadTf();
    const head = createHead(tf, { inputLength: 8, classes: 3, units: 4, dropout: 0.5, seed: 5 });
    const references = ReferenceSet.fromVectors([Float32Array.from({ length: 8 }, (_, index) => index + 1), new Float32Array(8).fill(1)], [0, 2], 8);
    const openSet = { rule: "nearest-reference-distance" as const, maxDistance: 0.7, source: "calibrated" as const, references: 2, featureLength: 8 };
    const directory = join(folder.path, "open-set-bundle");
    await assert.rejects(saveBundle(directory, { metadata: metadata(), head, scaling, references, tf }), /needs metadata\.openSet/);
    const saved = await saveBundle(directory, { metadata: { ...metadata(), openSet }, head, scaling, references, tf });
    assert.ok("open-set/references.bin" in saved.files);
    const loaded = await loadBundle(directory);
    assert.deepEqual(Array.from(loaded.references?.labels ?? []), [0, 2]);
    assert.deepEqual(loaded.references?.vectors, references.vectors);
    assert.equal(loaded.knownFaces?.rule, "nearest-reference-distance", "the rule the bundle records is the one it is served by");
    const file = join(directory, "open-set", "references.bin");
    const original = readFileSync(file);
    writeFileSync(file, original.subarray(0, 20));
    await assert.rejects(loadBundle(directory), /open-set\/references\.bin holds 20 bytes, but metadata\.json records 76/);
    const altered = Buffer.from(original);
    altered[10] = (altered[10] as number) ^ 0xff;
    writeFileSync(file, altered);
    await assert.rejects(loadBundle(directory), /open-set\/references\.bin does not match its checksum/);
    writeFileSync(file, original);
    const { rmSync } = await import("node:fs");
    rmSync(directory, { recursive: true });
  });

  test("a bundle is served by the open-set rule it records: class means, the nearest photo when it records none, never an unknown rule", async () => {
    const { tf } = await loadTf();
    const head = createHead(tf, { inputLength: 8, classes: 3, units: 4, dropout: 0.5, seed: 5 });
    const references = ReferenceSet.fromVectors([Float32Array.from({ length: 8 }, (_, index) => index + 1), new Float32Array(8).fill(1), new Float32Array(8).fill(-1)], [0, 0, 2], 8);
    const openSet = { rule: "nearest-class-mean-distance" as const, maxDistance: 0.7, source: "calibrated" as const, references: 3, featureLength: 8 };
    const directory = join(folder.path, "rule-bundle");
    await saveBundle(directory, { metadata: { ...metadata(), openSet }, head, scaling, references, tf });
    const loaded = await loadBundle(directory);
    assert.equal(loaded.knownFaces?.rule, "nearest-class-mean-distance");
    // Person 0's mean lies between its two photos: a photo of person 0 is nearer to itself than to the mean.
    assert.ok((loaded.knownFaces?.nearest(new Float32Array(8).fill(1)).distance ?? 0) > 0.05);
    assert.ok((loaded.references?.nearest(new Float32Array(8).fill(1)).distance ?? 1) < 1e-3);
    const metadataPath = join(directory, "metadata.json");
    const recorded = JSON.parse(readFileSync(metadataPath, "utf8")) as { openSet: Record<string, unknown> };
    delete recorded.openSet.rule;
    writeFileSync(metadataPath, JSON.stringify(recorded));
    assert.equal((await loadBundle(directory)).knownFaces?.rule, "nearest-reference-distance", "bundles from before the rule was recorded");
    recorded.openSet.rule = "nearest-neighbours-vote";
    writeFileSync(metadataPath, JSON.stringify(recorded));
    await assert.rejects(loadBundle(directory), /metadata\.openSet\.rule "nearest-neighbours-vote" is not one this faceops knows/);
    const { rmSync } = await import("node:fs");
    rmSync(directory, { recursive: true });
  });

  test("saving over an existing bundle replaces it whole", async () => {
    const { tf } = await loadTf();
    const directory = join(folder.path, "bundle");
    const head = createHead(tf, { inputLength: 8, classes: 3, units: 4, dropout: 0.5, seed: 99 });
    await saveBundle(directory, { metadata: { ...metadata(), name: "second" }, head, scaling, tf });
    assert.equal((await loadBundle(directory)).metadata.name, "second");
    assert.ok(existsSync(join(directory, "metadata.json")));
    assert.deepEqual(readdirSync(folder.path), ["bundle"]);
  });
});

/**
 * A bundle folder is what a server hot-swaps in: whoever can write to the store can put anything
 * there. Linked to /dev/zero, a FIFO, a sparse file of gigabytes or a metadata.json of megabytes,
 * each file must be refused by name, before it is read whole (the old loader followed links and read
 * without a cap: /dev/zero ran the server out of memory, a FIFO hung it).
 */
describe("model bundle read as hostile input", () => {
  const folder = temporaryFolder();
  const pristine = join(folder.path, "pristine");
  let counter = 0;
  after(() => folder.dispose());

  /** A fresh copy of a valid bundle to damage. */
  async function bundleCopy(): Promise<string> {
    if (!existsSync(pristine)) {
      const { tf } = await loadTf();
      await saveBundle(pristine, { metadata: metadata(), head: createHead(tf, { inputLength: 8, classes: 3, units: 4, dropout: 0.5, seed: 3 }), scaling, tf });
    }
    const copy = join(folder.path, `copy-${++counter}`);
    cpSync(pristine, copy, { recursive: true });
    await loadBundle(copy);
    return copy;
  }

  const refusedNaming = (pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof BundleError, String(error));
    assert.match(error.message, pattern);
    return true;
  };

  test("weights.bin linked to /dev/zero is refused as a symbolic link, never followed", { timeout: 30_000 }, async () => {
    const directory = await bundleCopy();
    rmSync(join(directory, "head", "weights.bin"));
    symlinkSync("/dev/zero", join(directory, "head", "weights.bin"));
    await assert.rejects(loadBundle(directory), refusedNaming(/head\/weights\.bin is a symbolic link, not a regular file; it was not read/));
  });

  test("weights.bin that is a FIFO is refused without opening it for a read that never ends", { timeout: 30_000 }, async () => {
    const directory = await bundleCopy();
    rmSync(join(directory, "head", "weights.bin"));
    const made = spawnSync("mkfifo", [join(directory, "head", "weights.bin")]);
    assert.equal(made.status, 0, String(made.stderr));
    await assert.rejects(loadBundle(directory), refusedNaming(/head\/weights\.bin is a FIFO, not a regular file; it was not read/));
  });

  test("weights.bin larger than its recorded size is refused unread (a sparse 8 GiB file)", { timeout: 30_000 }, async () => {
    const directory = await bundleCopy();
    const recorded = statSync(join(directory, "head", "weights.bin")).size;
    truncateSync(join(directory, "head", "weights.bin"), 8 * 1024 ** 3);
    await assert.rejects(loadBundle(directory), refusedNaming(new RegExp(`head/weights\\.bin holds 8589934592 bytes, but metadata\\.json records ${recorded}; .*not read`)));
  });

  test("an older bundle without recorded sizes is bounded by each kind's ceiling", { timeout: 30_000 }, async () => {
    const directory = await bundleCopy();
    const file = join(directory, "metadata.json");
    const { fileBytes, ...older } = JSON.parse(readFileSync(file, "utf8")) as BundleMetadata;
    assert.ok(fileBytes);
    writeFileSync(file, JSON.stringify(older));
    await loadBundle(directory);
    const ceiling = bundleFileCeilings["head/weights.bin"] as number;
    truncateSync(join(directory, "head", "weights.bin"), ceiling + 1);
    await assert.rejects(loadBundle(directory), refusedNaming(new RegExp(`head/weights\\.bin holds ${ceiling + 1} bytes, more than the ${ceiling} allowed for a head/weights\\.bin`)));
  });

  test("metadata.json cannot claim a size beyond its kind's ceiling", async () => {
    const directory = await bundleCopy();
    const file = join(directory, "metadata.json");
    const tampered = JSON.parse(readFileSync(file, "utf8")) as BundleMetadata;
    tampered.fileBytes = { ...tampered.fileBytes, "head/weights.bin": 5 * 1024 ** 3 };
    writeFileSync(file, JSON.stringify(tampered));
    await assert.rejects(loadBundle(directory), refusedNaming(/metadata\.json records 5368709120 bytes for head\/weights\.bin, more than the 1073741824/));
  });

  test("a huge metadata.json is refused unread, naming it", { timeout: 30_000 }, async () => {
    const directory = await bundleCopy();
    const file = join(directory, "metadata.json");
    // Valid JSON and a valid bundle otherwise: only its size is wrong.
    const padded = { ...(JSON.parse(readFileSync(file, "utf8")) as BundleMetadata), padding: "x".repeat(metadataMaxBytes) };
    writeFileSync(file, JSON.stringify(padded));
    await assert.rejects(loadBundle(directory), refusedNaming(/metadata\.json cannot be read as a bundle's metadata: .*metadata\.json holds \d+ bytes, more than the 16777216 allowed for a bundle's metadata; it was not read/));
  });

  test("a folder on the way that is a symbolic link is refused, and so is the bundle folder itself", async () => {
    const directory = await bundleCopy();
    const elsewhere = join(folder.path, `elsewhere-${counter}`);
    renameSync(join(directory, "head"), elsewhere);
    symlinkSync(elsewhere, join(directory, "head"));
    await assert.rejects(loadBundle(directory), refusedNaming(/head\/model\.json lies in head, which is a symbolic link, not a folder/));
    const linked = join(folder.path, `linked-${counter}`);
    symlinkSync(await bundleCopy(), linked);
    await assert.rejects(loadBundle(linked), refusedNaming(/is a symbolic link, not a folder/));
  });
});

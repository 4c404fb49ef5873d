import { readdir, readFile } from "node:fs/promises";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import { silentLogger } from "../src/log.js";
import { createFaceEmbeddingBackbone } from "../src/model/backbones/face-embedding.js";
import { createOnnxFaceNet } from "../src/model/backbones/face-embedding-onnx/engine.js";
import { loadFaceApi } from "../src/model/face/face-api.js";
import { decodeImage } from "../src/vision/decode.js";
import { createRgbImage, type RgbImage } from "../src/vision/image.js";
import type { BenchResult } from "./result.js";

/**
 * face-api's face recognition net (the face-embedding backbones' network) on TensorFlow.js's wasm
 * backend and on onnxruntime with one intra-op thread (what a face-path worker gives it), at batch
 * 1 and 8, on the same real face crops: ms per face for each, and how far apart the two engines'
 * unit-length descriptors are (largest absolute difference of any component, smallest cosine).
 *
 * The crops are the middle 150x150 of lfw-min10 photos (LFW's deep-funneled photos centre the
 * face, so this is a face crop like training's, without running the detector), spread evenly over
 * the sorted list of photos. FACEOPS_BENCH_FACES overrides the count (default 200).
 */
const datasetDir = "/work/shared/datasets/lfw-min10";
const cropSize = 150;

async function lfwCrops(count: number): Promise<RgbImage[]> {
  const people = (await readdir(datasetDir, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  const photos: string[] = [];
  for (const person of people) for (const name of (await readdir(join(datasetDir, person))).sort()) photos.push(join(datasetDir, person, name));
  const step = photos.length / count;
  const crops: RgbImage[] = [];
  for (let index = 0; index < count; index++) {
    const photo = await decodeImage(await readFile(photos[Math.floor(index * step)] as string), { maxPixels: 1_000_000 });
    crops.push(middleCrop(photo));
  }
  return crops;
}

function middleCrop(photo: RgbImage): RgbImage {
  const left = Math.floor((photo.width - cropSize) / 2);
  const top = Math.floor((photo.height - cropSize) / 2);
  const data = new Uint8Array(cropSize * cropSize * 3);
  for (let y = 0; y < cropSize; y++) {
    const from = ((top + y) * photo.width + left) * 3;
    data.set(photo.data.subarray(from, from + cropSize * 3), y * cropSize * 3);
  }
  return createRgbImage(cropSize, cropSize, data);
}

function unit(descriptor: Float32Array): Float32Array {
  const norm = Math.hypot(...descriptor);
  return descriptor.map((value) => value / norm);
}

interface Timed {
  descriptors: Float32Array[];
  msPerFace: number;
}

/** One warm-up batch, then every crop in batches of `batch`. */
async function timeRun(crops: readonly RgbImage[], batch: number, describe: (images: readonly RgbImage[]) => Promise<Float32Array[]>): Promise<Timed> {
  await describe(crops.slice(0, batch));
  const descriptors: Float32Array[] = [];
  const started = performance.now();
  for (let start = 0; start < crops.length; start += batch) descriptors.push(...(await describe(crops.slice(start, start + batch))));
  return { descriptors, msPerFace: (performance.now() - started) / crops.length };
}

function compare(reference: readonly Float32Array[], other: readonly Float32Array[]): { maxAbsDiff: number; minCosine: number } {
  let maxAbsDiff = 0;
  let minCosine = 1;
  reference.forEach((a, index) => {
    const b = other[index] as Float32Array;
    let dot = 0;
    a.forEach((value, position) => {
      maxAbsDiff = Math.max(maxAbsDiff, Math.abs(value - (b[position] as number)));
      dot += value * (b[position] as number);
    });
    minCosine = Math.min(minCosine, dot);
  });
  return { maxAbsDiff, minCosine };
}

export async function benchFaceEmbeddingEngines(): Promise<BenchResult> {
  const log = silentLogger();
  const count = Number(process.env.FACEOPS_BENCH_FACES ?? 200);
  const loadBefore = loadavg()[0];
  console.log(`face-embedding engines: decoding ${count} lfw-min10 crops`);
  const crops = await lfwCrops(count);
  const rows: BenchResult["rows"] = [];
  const faceApi = await loadFaceApi();
  const tfjs = new Map<number, Timed>();
  for (const batch of [1, 8]) {
    // TensorFlow.js asked for by name: the backbone runs on onnxruntime by default.
    const backbone = await createFaceEmbeddingBackbone({ log, batchSize: batch, engine: "tfjs" });
    try {
      const timed = await timeRun(crops, batch, (images) => backbone.embed(images));
      tfjs.set(batch, timed);
      rows.push({ metric: `${backbone.engine} batch ${batch}`, value: timed.msPerFace, unit: "ms/face", note: `${count} crops, one thread` });
      console.log(`  ${backbone.engine} batch ${batch}: ${timed.msPerFace.toFixed(1)} ms/face`);
    } finally {
      await backbone.dispose();
    }
  }
  const reference = tfjs.get(8)?.descriptors ?? [];
  let worst = { maxAbsDiff: 0, minCosine: 1 };
  for (const [threads, sessionThread] of [[1, "caller"], [availableParallelism(), "caller"], [1, "own"]] as const) {
    const net = await createOnnxFaceNet({ modelDir: faceApi.modelDir, intraOpThreads: threads, sessionThread });
    try {
      for (const batch of threads === 1 && sessionThread === "caller" ? [1, 8] : [8]) {
        const timed = await timeRun(crops, batch, async (images) => (await net.describe(images, false)).map(unit));
        const difference = compare(reference, timed.descriptors);
        worst = { maxAbsDiff: Math.max(worst.maxAbsDiff, difference.maxAbsDiff), minCosine: Math.min(worst.minCosine, difference.minCosine) };
        const where = sessionThread === "own" ? "session in its own thread" : "session on the calling thread";
        rows.push({ metric: `onnxruntime ${threads} thread${threads > 1 ? "s" : ""} batch ${batch}${sessionThread === "own" ? " (own thread)" : ""}`, value: timed.msPerFace, unit: "ms/face", note: `${count} crops, ${where}; graph build + session ${Math.round(net.startMs)} ms` });
        console.log(`  onnxruntime ${threads} thread(s), ${sessionThread}, batch ${batch}: ${timed.msPerFace.toFixed(1)} ms/face, max |diff| ${difference.maxAbsDiff.toExponential(2)}`);
      }
    } finally {
      await net.dispose();
    }
  }
  const ratio = (batch: number) => (tfjs.get(batch)?.msPerFace ?? Number.NaN) / (rows.find((row) => row.metric === `onnxruntime 1 thread batch ${batch}`)?.value ?? Number.NaN);
  rows.push({ metric: "ratio tfjs / onnxruntime, 1 thread, batch 1", value: ratio(1), unit: "x", note: "decision threshold: >= 1.3" });
  rows.push({ metric: "ratio tfjs / onnxruntime, 1 thread, batch 8", value: ratio(8), unit: "x", note: "decision threshold: >= 1.3" });
  rows.push({ metric: "max |descriptor difference|", value: worst.maxAbsDiff, unit: "", note: `${worst.maxAbsDiff.toExponential(2)}: unit-length descriptors, any component, any crop, against tfjs batch 8; threshold 1e-4 (1e-5 keeps the fingerprint)` });
  rows.push({ metric: "min cosine tfjs vs onnxruntime", value: worst.minCosine, unit: "", note: `1 - cosine = ${(1 - worst.minCosine).toExponential(2)}, ${count} crops` });
  return {
    name: `face-api face recognition net (face-embedding backbones): tfjs vs onnxruntime, ${count} LFW crops of 150x150`,
    rows,
    environment: {
      cpus: availableParallelism(),
      onnxruntime: (await import("onnxruntime-node")).env.versions.node,
      tfjsBackend: faceApi.runtime.tf.getBackend(),
      // Other processes on the machine slow every number here; the load average says how busy it was.
      loadAverage1mBefore: loadBefore,
      loadAverage1mAfter: loadavg()[0],
    },
  };
}

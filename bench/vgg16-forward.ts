import { availableParallelism, loadavg } from "node:os";
import { silentLogger } from "../src/log.js";
import type { Vgg16Engine } from "../src/model/backbones/vgg16/architecture.js";
import { createOnnxVgg16Engine, onnxDefaultBatchSize, type OnnxInputLayout } from "../src/model/backbones/vgg16/onnx/index.js";
import { createTfjsVgg16Engine } from "../src/model/backbones/vgg16/tfjs.js";
import { randomVgg16Weights } from "../src/model/backbones/vgg16/weights/index.js";
import { loadTf } from "../src/model/tfjs-engine.js";
import type { BenchResult } from "./result.js";

/**
 * VGG16's forward pass at 224x224 with random weights (the arithmetic does not depend on the
 * values): onnxruntime at batch 1, 4 and 8, both input layouts at the default batch, and
 * TensorFlow.js at batch 1 on a few images only, since on the wasm backend it takes ~1 s each.
 * Each configuration runs once to warm up, then on `imagesPerConfig` images.
 */
const inputSize = 224;
const imagesPerConfig = 16;
const tfjsImages = 3;

interface Timing {
  msPerImage: number;
  bestMsPerImage: number;
  images: number;
}

function randomInput(count: number): Float32Array {
  // Caffe-normalised pixels lie in about [-124, 152]; the exact values do not matter for speed.
  const input = new Float32Array(count * inputSize * inputSize * 3);
  for (let i = 0; i < input.length; i++) input[i] = Math.random() * 255 - 120;
  return input;
}

async function timeEngine(engine: Vgg16Engine, batch: number, images: number): Promise<Timing> {
  const input = randomInput(batch);
  await engine.run(input, batch);
  const runs = Math.max(1, Math.round(images / batch));
  let total = 0;
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await engine.run(input, batch);
    const elapsed = performance.now() - started;
    total += elapsed;
    best = Math.min(best, elapsed / batch);
  }
  return { msPerImage: total / (runs * batch), bestMsPerImage: best, images: runs * batch };
}

function row(metric: string, timing: Timing, extra = ""): BenchResult["rows"][number] {
  return {
    metric,
    value: timing.msPerImage,
    unit: "ms/image",
    note: `${timing.images} images, best ${timing.bestMsPerImage.toFixed(1)} ms/image${extra ? `; ${extra}` : ""}`,
  };
}

export async function benchVgg16Forward(): Promise<BenchResult> {
  const log = silentLogger();
  const weights = randomVgg16Weights(1);
  const rows: BenchResult["rows"] = [];
  const loadBefore = loadavg()[0];

  for (const layout of ["nhwc", "nchw"] as const satisfies readonly OnnxInputLayout[]) {
    const started = performance.now();
    const engine = await createOnnxVgg16Engine({ weights, inputSize, pooling: "avg", inputLayout: layout, log });
    const setupMs = performance.now() - started;
    try {
      const batches = layout === "nhwc" ? [1, 4, 8] : [onnxDefaultBatchSize];
      for (const batch of batches) {
        const timing = await timeEngine(engine, batch, imagesPerConfig);
        const note = `${layout} input${batch === onnxDefaultBatchSize ? ", default batch" : ""}${batch === batches[0] ? `, graph build + session ${Math.round(setupMs)} ms` : ""}`;
        rows.push(row(`onnxruntime ${layout} batch ${batch}`, timing, note));
      }
    } finally {
      await engine.dispose();
    }
  }

  const runtime = await loadTf();
  const tfEngine = await createTfjsVgg16Engine({ weights, inputSize, pooling: "avg", log, runtime });
  try {
    rows.push(row(`${runtime.engine} batch 1`, await timeEngine(tfEngine, 1, tfjsImages), `backend ${runtime.tf.getBackend()}`));
  } finally {
    await tfEngine.dispose();
  }

  const onnxDefault = rows.find((entry) => entry.metric === `onnxruntime nhwc batch ${onnxDefaultBatchSize}`);
  const tfRow = rows.at(-1);
  if (onnxDefault && tfRow) {
    rows.push({ metric: `ratio ${runtime.engine} / onnxruntime`, value: tfRow.value / onnxDefault.value, unit: "x", note: "target: onnxruntime <= 175 ms/image" });
  }
  const ortVersion = (await import("onnxruntime-node")).env.versions.node;
  return {
    name: `VGG16 forward pass, ${inputSize}x${inputSize}, random weights`,
    rows,
    environment: {
      cpus: availableParallelism(),
      onnxruntime: ortVersion,
      tfjsEngine: runtime.engine,
      // Other processes on the machine slow every number here; the load average says how busy it was.
      loadAverage1mBefore: loadBefore,
      loadAverage1mAfter: loadavg()[0],
    },
  };
}

import { availableParallelism } from "node:os";
import { isMainThread } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";
import type { RgbImage } from "../../../vision/image.js";
import { OnnxInlineSession } from "../../onnx/inline-session.js";
import { OnnxSessionThread } from "../../onnx/session.js";
import { buildFaceRecognitionOnnx, faceNetDescriptorLength, faceNetInputName, faceNetInputSize, faceNetOutputName } from "./graph.js";
import { readTfjsWeights } from "./weights.js";

/**
 * face-api's face recognition net on onnxruntime (the graph in graph.ts, built from the weights
 * face-api ships): the same descriptors as on TensorFlow.js's wasm backend, several times faster
 * per thread (bench/face-embedding-engines.ts).
 */

export interface OnnxFaceNetOptions {
  /** face-api's model folder, holding face_recognition_model-weights_manifest.json and its .bin. */
  modelDir: string;
  /**
   * onnxruntime's intra-op threads. Default: 1 inside a worker thread (a face-path worker, where
   * the pool supplies the parallelism), every core on the main thread.
   */
  intraOpThreads?: number;
  /**
   * Where the session runs. Default: its own thread when created on the main thread, so a forward
   * pass never blocks the event loop; the calling thread inside a worker thread, whose whole job is
   * that forward pass (inline-session.ts).
   */
  sessionThread?: "own" | "caller";
}

export interface OnnxFaceNet {
  readonly intraOpThreads: number;
  readonly sessionThread: "own" | "caller";
  /** Build and session start-up time, for the log. */
  readonly startMs: number;
  /**
   * Raw (not unit-length) descriptors of 150x150 crops, one per image; with `mirror`, followed by
   * one per image's left-right mirror, all in one forward pass.
   */
  describe(images: readonly RgbImage[], mirror: boolean): Promise<Float32Array[]>;
  dispose(): Promise<void>;
}

export const faceRecognitionModelName = "face_recognition_model";

export async function createOnnxFaceNet(options: OnnxFaceNetOptions): Promise<OnnxFaceNet> {
  const intraOpThreads = options.intraOpThreads ?? (isMainThread ? availableParallelism() : 1);
  if (!Number.isInteger(intraOpThreads) || intraOpThreads < 1) {
    throw new RangeError(`onnxruntime's intra-op threads must be a positive integer, received ${String(intraOpThreads)}`);
  }
  const sessionThread = options.sessionThread ?? (isMainThread ? "own" : "caller");
  const started = performance.now();
  const weights = await readTfjsWeights(options.modelDir, faceRecognitionModelName);
  const bytes = buildFaceRecognitionOnnx(weights, `face-api's face recognition net (dlib_face_recognition_resnet_model_v1), from ${options.modelDir}`);
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    intraOpNumThreads: intraOpThreads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  const io = { inputName: faceNetInputName, outputName: faceNetOutputName, graph: "face recognition" };
  const session = sessionThread === "own" ? await OnnxSessionThread.start(bytes, sessionOptions, io) : await OnnxInlineSession.start(bytes, sessionOptions, io);
  const startMs = performance.now() - started;
  return {
    intraOpThreads,
    sessionThread,
    startMs,
    async describe(images, mirror) {
      const count = images.length * (mirror ? 2 : 1);
      if (count === 0) return [];
      const output = await session.run(toInput(images, mirror), [count, faceNetInputSize, faceNetInputSize, 3]);
      if (output.data.length !== count * faceNetDescriptorLength) {
        throw new Error(`onnxruntime returned ${output.type} [${output.dims.join(", ")}], expected float32 [${count}, ${faceNetDescriptorLength}]`);
      }
      return Array.from({ length: count }, (_, index) => output.data.slice(index * faceNetDescriptorLength, (index + 1) * faceNetDescriptorLength));
    },
    dispose: () => session.close(),
  };
}

/**
 * NHWC float32 of the raw 0..255 values (the graph normalises); mirrors after the originals.
 * Plain loops in top-level functions: a closure made per call (an arrow passed to forEach) was
 * compiled again by V8 for every batch, ~70 times in 15 s of serving.
 */
function toInput(images: readonly RgbImage[], mirror: boolean): Float32Array {
  const perImage = faceNetInputSize * faceNetInputSize * 3;
  const input = new Float32Array(perImage * images.length * (mirror ? 2 : 1));
  for (let index = 0; index < images.length; index++) {
    const pixels = (images[index] as RgbImage).data;
    input.set(pixels, index * perImage);
    if (mirror) mirrorInto(input, (images.length + index) * perImage, pixels, faceNetInputSize);
  }
  return input;
}

/** Writes the left-right mirror of a side x side RGB image into `target` from `offset`. */
function mirrorInto(target: Float32Array, offset: number, pixels: Uint8Array, side: number): void {
  for (let y = 0; y < side; y++) {
    const row = y * side;
    for (let x = 0; x < side; x++) {
      const from = (row + (side - 1 - x)) * 3;
      const to = offset + (row + x) * 3;
      target[to] = pixels[from] as number;
      target[to + 1] = pixels[from + 1] as number;
      target[to + 2] = pixels[from + 2] as number;
    }
  }
}

import { createFaceEmbeddingBackbone } from "../backbones/face-embedding.js";
import type { Backbone } from "../backbones/types.js";
import { createFaceDetector, type FaceDetector } from "../face/detector.js";
import { loadTf } from "../tfjs-engine.js";
import { hostTasks } from "../workers/task-host.js";
import { createRgbImage } from "../../vision/image.js";
import { findFacesInFile } from "./find-faces.js";
import { croppedFaces, prepareFaces, type Preparation } from "./prepare.js";
import { packCrops, unpackCrops, type FacePathInfo, type FacePathInit, type FacePathTasks } from "./protocol.js";

/**
 * One face-path worker thread: its own TensorFlow.js (and so its own WebAssembly instance), face
 * detector and face-embedding backbone, loaded once, then prepare, findFaces and embed tasks one at
 * a time. Nothing in it belongs to one model version: each prepare task brings its bundle's crop,
 * so the service's versions share these threads (registry.ts).
 * Decoding runs here too, with the same codec policy (vision/codecs.ts, applied when decode.ts
 * loads in this thread). Started by FacePathWorkers (workers.ts) through a WorkerPool.
 */

hostTasks<FacePathInit, FacePathInfo, FacePathTasks>(async (init, log) => {
  // First, so that face-api, loaded next, runs on the engine asked for.
  const { engine, skipped } = await loadTf(init.tfEngine);
  let detector: FaceDetector | null = null;
  let embedding: Backbone | null = null;
  try {
    if (init.detector) detector = await createFaceDetector({ log, landmarks: init.detector.landmarks });
    if (init.embedding) {
      embedding = await createFaceEmbeddingBackbone({
        log,
        batchSize: init.embedding.batchSize,
        mirror: init.embedding.mirror ?? false,
        // A configured tfjs engine means TensorFlow.js for every network; otherwise onnxruntime, which is faster.
        engine: init.embedding.engine ?? (init.tfEngine ? "tfjs" : "auto"),
        intraOpThreads: init.embedding.intraOpThreads ?? 1,
      });
    }
    await warmUp(detector, embedding);
  } catch (error) {
    await detector?.dispose();
    await embedding?.dispose();
    throw error;
  }
  const info: FacePathInfo = {
    tfEngine: engine,
    skipped,
    detector: detector ? { kind: detector.kind, fingerprint: detector.fingerprint } : null,
    embedding: embedding
      ? { id: embedding.id, fingerprint: embedding.fingerprint, weightsSha256: embedding.weightsSha256, engine: embedding.engine, inputSize: embedding.inputSize, featureLength: embedding.featureLength, preprocessing: embedding.preprocessing }
      : null,
  };
  return {
    info,
    handlers: {
      async prepare(request) {
        const { bytes, preparation: asked, ...options } = request;
        // Without a detector every photo would be answered "no face": a pool for face crops loads one (registry.ts keys on it).
        if (asked.crop.mode === "face" && !detector) throw new Error('this face-path worker was started without the face detector, which crop mode "face" needs');
        const preparation: Preparation = { crop: asked.crop, inputSize: asked.inputSize, detector, maxPixels: init.maxPixels };
        const prepared = await prepareFaces(bytes, preparation, options);
        const side = preparation.inputSize;
        const pixels = packCrops(croppedFaces(prepared), side, "the face-path worker's answer");
        const faces = prepared.faces.map(({ box, detectionScore, image }) => ({ box, detectionScore, cropped: image !== null }));
        const { width, height, facesFound, crop } = prepared;
        return { result: { width, height, facesFound, crop, faces, side, pixels }, transfer: [pixels.buffer] };
      },
      async findFaces(request) {
        if (!detector) throw new Error("this face-path worker was started without the face detector");
        return { result: await findFacesInFile(detector, request.policy, request.bytes, request.maxPixels) };
      },
      async embed(request) {
        if (!embedding) throw new Error("this face-path worker was started without the face-embedding backbone");
        const images = unpackCrops(request.pixels, request.count, request.side, 1);
        const vectors = await embedding.embed(images);
        const features = new Float32Array(vectors.length * embedding.featureLength);
        vectors.forEach((vector, index) => features.set(vector, index * embedding.featureLength));
        return { result: { features }, transfer: [features.buffer] };
      },
    },
  };
});

/*
 * One pass of every net on a grey picture: the first call of each compiles and uploads what it
 * needs, and belongs to start-up rather than to the first photo of a user.
 */
async function warmUp(detector: FaceDetector | null, embedding: Backbone | null): Promise<void> {
  const grey = (side: number) => createRgbImage(side, side, new Uint8Array(side * side * 3).fill(128));
  if (detector) await detector.detect(grey(160));
  if (embedding) await embedding.embed([grey(embedding.inputSize)]);
}

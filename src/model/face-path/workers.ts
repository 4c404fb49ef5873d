import type { Logger } from "../../log.js";
import { ImageDecodeError, type DecodeFailure } from "../../vision/decode.js";
import type { RgbImage } from "../../vision/image.js";
import type { FaceEmbeddingEngineChoice } from "../backbones/face-embedding.js";
import type { Backbone, BackboneId } from "../backbones/types.js";
import type { CropPolicy } from "../face/crop.js";
import type { TfEngine } from "../tfjs-engine.js";
import { transferable } from "../workers/messages.js";
import { WorkerPool } from "../workers/pool.js";
import type { PhotoFaces } from "./find-faces.js";
import type { PrepareOptions, PreparedFace, PreparedFaces } from "./prepare.js";
import { packCrops, unpackCrops, type FacePathCrop, type FacePathInfo, type FacePathInit, type FacePathTasks } from "./protocol.js";

/**
 * The face path in worker threads: decoding, face detection and cropping (prepare.ts) and the
 * face-embedding backbone, each worker with its own copy of the nets, so the thread that serves
 * HTTP never runs a network or a decoder. The service sizes the pool like its decode permits
 * (serve.decodeConcurrency), so every photo admitted to decoding finds a worker. What a pool loads
 * does not depend on a model version: each prepare call names its bundle's crop, so the service's
 * versions share one pool through the registry (registry.ts).
 *
 *   const workers = await FacePathWorkers.start({ size: 2, maxPixels, detector: { landmarks: true }, embedding: {}, log });
 *   const prepared = await workers.prepare(bytes, { crop: metadata.crop, inputSize: 150 }, { handOver: true });
 *   const features = await workers.backbone.embed(croppedFaces(prepared));
 *   await workers.dispose();
 *
 * Errors of a task come back as their own classes: a photo that cannot be decoded is an
 * ImageDecodeError with its code, as on the main thread. A worker that dies is replaced, and the
 * task it ran fails with WorkerExitedError (pool.ts).
 *
 * Training runs on the same workers (training-runtime.ts): `findFaces` for the box cache, and the
 * backbone for crops cut and augmented on the main thread, one batch per worker at a time.
 */

export interface FacePathWorkersOptions {
  size: number;
  /** The TensorFlow.js engine the configuration names, or undefined for the best one available. */
  tfEngine?: TfEngine;
  /** Default pixel limit of a prepare task's decode (dataset.maxPixels). */
  maxPixels: number;
  /** Load the face detector, for crop mode "face" (a prepare task with that crop is refused without it). */
  detector: { landmarks: boolean } | null;
  /** Load the face-embedding backbone and run it here; mirror: the face-embedding-mirrored variant; engine and intraOpThreads: see FacePathInit. */
  embedding: { batchSize?: number; mirror?: boolean; engine?: FaceEmbeddingEngineChoice; intraOpThreads?: number } | null;
  log: Logger;
}

export interface HandOverOptions extends PrepareOptions {
  /**
   * The caller gives the bytes away: when they fill their own buffer, it is moved to the worker
   * instead of copied, and is unusable (empty) afterwards. Otherwise the worker gets a copy.
   */
  handOver?: boolean;
}

/**
 * Each face-path worker's young generation, in MB (WorkerPool's youngGenerationMb). A worker holds
 * ~47 MB of live heap (TensorFlow.js, face-api, onnxruntime's bindings) and allocates ~2-3 MB a
 * photo. With V8's default young generation the new space grew beyond the room the old generation's
 * limit left, so each worker ran a full marking collection every 100-200 ms: V8's helper threads
 * took ~20% of both cores at c=8 and 2 workers served 28 photos/s, 1.59x one worker. Measured on the
 * serve benchmark's 1-face photos at c=8 (2026-12-05, photos/s with 2 workers / 1 worker): default
 * 28.1 / 17.3, 16 MB 29.5 / 16.1, 12 MB 33.4 / 18.1, 8 MB 34.7 / 19.3, 6 MB 32.0 / 19.0, 4 MB
 * 33.9 / 18.9; full collections during a 15 s window fell from ~200 to ~35 at 8 MB (~20 once the
 * detection input stopped allocating, detector.ts), and scavenges stay cheap (few survivors).
 */
export const facePathYoungGenerationMb = 8;

const revivers = {
  ImageDecodeError: (error: { code?: string | number; message: string }, options: ErrorOptions) => new ImageDecodeError(error.code as DecodeFailure, error.message, options),
};

/**
 * The embedding these workers run for a bundle's backbone: face-api's network, plain or mirrored,
 * runs beside the detector in the workers; any other backbone (VGG16 has its own onnxruntime
 * thread, faceres runs on the main thread) is built by the caller, so null.
 */
export function facePathEmbedding(backbone: BackboneId, batchSize: number | undefined): FacePathWorkersOptions["embedding"] {
  if (backbone === "face-embedding") return { batchSize, mirror: false };
  if (backbone === "face-embedding-mirrored") return { batchSize, mirror: true };
  return null;
}

export class FacePathWorkers {
  /** The face-embedding backbone run by these workers; null when they were started without it. */
  readonly backbone: Backbone | null;

  private constructor(private readonly pool: WorkerPool<FacePathInit, FacePathInfo, FacePathTasks>) {
    this.backbone = pool.info.embedding ? pooledBackbone(pool, pool.info.embedding) : null;
  }

  static async start(options: FacePathWorkersOptions): Promise<FacePathWorkers> {
    const { log } = options;
    const init: FacePathInit = {
      tfEngine: options.tfEngine,
      maxPixels: options.maxPixels,
      detector: options.detector,
      embedding: options.embedding
        ? { batchSize: options.embedding.batchSize, mirror: options.embedding.mirror ?? false, engine: options.embedding.engine, intraOpThreads: options.embedding.intraOpThreads }
        : null,
    };
    const pool = await WorkerPool.start<FacePathInit, FacePathInfo, FacePathTasks>({
      name: "face-path",
      entry: new URL(`./worker${extensionOf(import.meta.url)}`, import.meta.url),
      size: options.size,
      init,
      log,
      revivers,
      youngGenerationMb: facePathYoungGenerationMb,
      onReady: (worker, info) => {
        const { tfEngine, skipped, detector, embedding } = info as FacePathInfo;
        log.info({ worker, engine: tfEngine, skipped, detector: detector?.kind ?? null, embedding: embedding?.engine ?? null }, "face-path worker ready");
      },
    });
    return new FacePathWorkers(pool);
  }

  /** What the workers loaded (the first one's report; all are started alike). */
  get info(): FacePathInfo {
    return this.pool.info;
  }

  get size(): number {
    return this.pool.size;
  }

  /**
   * Workers running or starting: 0 once every one has died and none could be replaced (the pool
   * is broken, every task fails), or once the pool was disposed.
   */
  get alive(): number {
    return this.pool.alive;
  }

  /**
   * Decodes one photo, detects and crops its faces in a worker, the way `preparation` (the
   * bundle's crop and its backbone's input side) says. Throws ImageDecodeError on bad input.
   */
  async prepare(bytes: Uint8Array, preparation: FacePathCrop, options: HandOverOptions = {}): Promise<PreparedFaces> {
    // The typed-array constructor copies (a Buffer's slice() would share the caller's memory).
    const sent = options.handOver ? transferable(bytes) : { view: new Uint8Array(bytes) };
    const transfer = "transfer" in sent ? sent.transfer : sent.view.buffer;
    const { maxPixels, maxSide, maxFaces, minFaceSize } = options;
    // Only the two fields cross the thread, not whatever else the caller's object holds (a bundle's crop counts).
    const crop = { mode: preparation.crop.mode, medianBox: preparation.crop.medianBox };
    const request = { bytes: sent.view, preparation: { crop, inputSize: preparation.inputSize }, maxPixels, maxSide, maxFaces, minFaceSize };
    const result = await this.pool.run("prepare", request, [transfer]);
    const crops = unpackCrops(result.pixels, result.faces.filter((face) => face.cropped).length, result.side);
    let next = 0;
    const faces = result.faces.map(({ box, detectionScore, cropped }): PreparedFace => ({ box, detectionScore, image: cropped ? (crops[next++] as RgbImage) : null }));
    return { width: result.width, height: result.height, facesFound: result.facesFound, faces, crop: result.crop };
  }

  /**
   * Training's search for the faces of one photo (find-faces.ts) in a worker: decoded at full size
   * with `maxPixels`, every face with its crop's sharpness under `policy`. The bytes are copied
   * unless handed over. Throws ImageDecodeError on bad input.
   */
  async findFaces(bytes: Uint8Array, options: { maxPixels: number; policy: CropPolicy; handOver?: boolean }): Promise<PhotoFaces> {
    const sent = options.handOver ? transferable(bytes) : { view: new Uint8Array(bytes) };
    const transfer = "transfer" in sent ? sent.transfer : sent.view.buffer;
    return this.pool.run("findFaces", { bytes: sent.view, maxPixels: options.maxPixels, policy: options.policy }, [transfer]);
  }

  /** Ends every worker; tasks still waiting fail (pool.ts). */
  dispose(): Promise<void> {
    return this.pool.terminate();
  }
}

/** The worker's file beside this one: .ts when running from the sources, .js when built. */
function extensionOf(url: string): string {
  return new URL(url).pathname.endsWith(".ts") ? ".ts" : ".js";
}

/**
 * The Backbone interface over the pool: a batch goes to one worker as one buffer, so the
 * micro-batcher's batches stay batches. Disposing it does nothing; the pool's owner ends the workers.
 */
function pooledBackbone(pool: WorkerPool<FacePathInit, FacePathInfo, FacePathTasks>, description: NonNullable<FacePathInfo["embedding"]>): Backbone {
  let forwardPasses = 0;
  const { inputSize, featureLength } = description;
  return {
    id: description.id,
    fingerprint: description.fingerprint,
    weightsSha256: description.weightsSha256,
    randomWeights: false,
    engine: description.engine,
    inputSize,
    featureLength,
    preprocessing: description.preprocessing,
    get forwardPasses() {
      return forwardPasses;
    },
    // One batch per worker: a caller with many batches keeps every worker busy.
    concurrency: pool.size,
    async embed(images: readonly RgbImage[]) {
      if (images.length === 0) return [];
      const pixels = packCrops(images, inputSize, `the ${description.id} backbone`);
      const { features } = await pool.run("embed", { count: images.length, side: inputSize, pixels }, [pixels.buffer]);
      if (features.length !== images.length * featureLength) {
        throw new Error(`the face-path worker returned ${features.length} feature values for ${images.length} crops, expected ${images.length * featureLength}`);
      }
      forwardPasses += images.length;
      return images.map((_, index) => features.slice(index * featureLength, (index + 1) * featureLength));
    },
    dispose: () => Promise.resolve(),
  };
}

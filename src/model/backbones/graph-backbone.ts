import type * as tfjs from "@tensorflow/tfjs";
import type { Logger } from "../../log.js";
import type { RgbImage } from "../../vision/image.js";
import { loadPackagedGraphModel, type PackagedModelSource } from "./packaged-graph.js";
import type { Backbone, BackboneId } from "./types.js";

/**
 * A face backbone made of a TensorFlow.js graph model shipped in an npm package: the part every
 * such network shares (checking the crops, batching, running the graph, scaling the descriptor to
 * unit length). What differs from network to network, its input size, the node its descriptor is
 * read from and how pixels are normalised, is the description each backbone module passes in
 * (faceres.ts, mobilefacenet.ts), beside the comment that says where those choices come from.
 */

export interface GraphBackboneDescription {
  id: BackboneId;
  source: PackagedModelSource;
  inputSize: number;
  featureLength: number;
  /** The graph node whose value is the face descriptor. */
  outputNode: string;
  /** Names the normalisation `prepare` applies; part of the fingerprint. */
  preprocessing: string;
  /** The net's input from a [n, side, side, 3] float32 batch of RGB values in 0..255 (called inside tf.tidy). */
  prepare(tf: typeof tfjs, rgb: tfjs.Tensor4D): tfjs.Tensor4D;
}

export interface GraphBackboneOptions {
  log: Logger;
  /** Images per forward pass; default 8. */
  batchSize?: number;
}

/** A packaged graph backbone also says where its weights came from, for the bundle. */
export interface GraphBackbone extends Backbone {
  /** "npm:<package>@<version>/<model.json path>". */
  readonly weightsSource: string;
}

const defaultBatchSize = 8;

export async function createGraphBackbone(description: GraphBackboneDescription, options: GraphBackboneOptions): Promise<GraphBackbone> {
  const { id, inputSize, featureLength, outputNode, preprocessing, source } = description;
  const batchSize = options.batchSize ?? defaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize <= 0) {
    throw new RangeError(`the ${id} batch size must be a positive integer, received ${String(batchSize)}`);
  }
  const model = await loadPackagedGraphModel(source);
  const { tf, engine } = model.runtime;
  const fingerprint = `${id}:${source.packageName}-${model.packageVersion}:${source.file}:sha256-${model.sha256}:${inputSize}:${preprocessing}`;
  options.log.debug({ fingerprint, engine }, `${id} backbone ready`);
  let forwardPasses = 0;
  let disposed = false;

  function describeBatch(images: readonly RgbImage[]): tfjs.Tensor2D {
    return tf.tidy(() => {
      const pixels = new Float32Array(images.length * inputSize * inputSize * 3);
      images.forEach((image, index) => pixels.set(image.data, index * inputSize * inputSize * 3));
      const rgb = tf.tensor4d(pixels, [images.length, inputSize, inputSize, 3]);
      const output = model.graph.execute(description.prepare(tf, rgb), outputNode) as tfjs.Tensor;
      return tf.reshape<tfjs.Rank.R2>(output, [images.length, -1]);
    });
  }

  return {
    id,
    fingerprint,
    weightsSha256: model.sha256,
    weightsSource: `npm:${source.packageName}@${model.packageVersion}/${source.file}`,
    randomWeights: false,
    engine,
    inputSize,
    featureLength,
    preprocessing,
    get forwardPasses() {
      return forwardPasses;
    },
    async embed(images) {
      if (disposed) throw new Error(`the ${id} backbone was disposed`);
      images.forEach((image, index) => assertInputSize(id, inputSize, image, index));
      const features: Float32Array[] = [];
      for (let start = 0; start < images.length; start += batchSize) {
        const batch = images.slice(start, start + batchSize);
        const output = describeBatch(batch);
        try {
          if (output.shape[1] !== featureLength) {
            throw new Error(`the ${id} graph returned descriptors of length ${output.shape[1]}, expected ${featureLength}`);
          }
          const values = await output.data<"float32">();
          for (let index = 0; index < batch.length; index += 1) {
            features.push(unitLength(values.slice(index * featureLength, (index + 1) * featureLength)));
          }
        } finally {
          output.dispose();
        }
        forwardPasses += batch.length;
      }
      return features;
    },
    dispose() {
      if (!disposed) model.graph.dispose();
      disposed = true;
      return Promise.resolve();
    },
  };
}

function assertInputSize(id: string, inputSize: number, image: RgbImage, index: number): void {
  if (image.width !== inputSize || image.height !== inputSize) {
    throw new RangeError(`the ${id} backbone takes ${inputSize}x${inputSize} face crops, image ${index} is ${image.width}x${image.height}`);
  }
  if (image.data.length !== inputSize * inputSize * 3) {
    throw new RangeError(`image ${index} has ${image.data.length} bytes of RGB data, expected ${inputSize * inputSize * 3}`);
  }
}

/** Unit length makes Euclidean distance and cosine similarity rank neighbours identically, as for face-embedding. */
function unitLength(descriptor: Float32Array): Float32Array {
  let sumOfSquares = 0;
  for (const value of descriptor) sumOfSquares += value * value;
  const norm = Math.sqrt(sumOfSquares);
  // An all-zero descriptor has no direction to keep.
  if (norm === 0) return new Float32Array(descriptor.length);
  return descriptor.map((value) => value / norm);
}

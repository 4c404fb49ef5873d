import { readFile } from "node:fs/promises";
import { join } from "node:path";

/**
 * Reads a TensorFlow.js weights manifest and its .bin shards (the format face-api ships its nets
 * in) into named float32 arrays, without TensorFlow.js: the onnxruntime engine of the face
 * embedding needs the numbers, not tensors.
 *
 * The dequantisation is TensorFlow.js's own (tfjs-core io_utils decodeWeights): a uint8 or uint16
 * value v stands for v * scale + min, computed in double precision and stored as float32, so both
 * engines run on bit-identical weights.
 */

export interface WeightsManifestEntry {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

interface WeightsManifestGroup {
  paths: string[];
  weights: WeightsManifestEntry[];
}

export interface NamedWeight {
  shape: number[];
  values: Float32Array;
}

export type WeightMap = ReadonlyMap<string, NamedWeight>;

/** Reads `<modelDir>/<name>-weights_manifest.json` and the shards it lists. */
export async function readTfjsWeights(modelDir: string, name: string): Promise<WeightMap> {
  const manifestPath = join(modelDir, `${name}-weights_manifest.json`);
  let groups: WeightsManifestGroup[];
  try {
    groups = JSON.parse(await readFile(manifestPath, "utf8")) as WeightsManifestGroup[];
  } catch (error) {
    throw new Error(`cannot read the weights manifest ${manifestPath}: ${(error as Error).message}`, { cause: error });
  }
  if (!Array.isArray(groups)) throw new Error(`the weights manifest ${manifestPath} is not a list of weight groups`);
  const weights = new Map<string, NamedWeight>();
  for (const group of groups) {
    const shards = await Promise.all(group.paths.map((path) => readFile(join(modelDir, path))));
    const bytes = Buffer.concat(shards);
    let offset = 0;
    for (const entry of group.weights) {
      const decoded = decodeWeight(entry, bytes, offset, manifestPath);
      weights.set(entry.name, { shape: entry.shape, values: decoded.values });
      offset += decoded.byteLength;
    }
    if (offset !== bytes.byteLength) {
      throw new Error(`the weights manifest ${manifestPath} describes ${offset} bytes, its shards ${group.paths.join(", ")} hold ${bytes.byteLength}`);
    }
  }
  return weights;
}

function decodeWeight(entry: WeightsManifestEntry, bytes: Buffer, offset: number, manifestPath: string): { values: Float32Array; byteLength: number } {
  if (entry.dtype !== "float32") throw new Error(`weight ${entry.name} in ${manifestPath} is ${entry.dtype}; only float32 weights are read`);
  const count = entry.shape.reduce((product, size) => product * size, 1);
  const stored = entry.quantization?.dtype ?? "float32";
  const bytesPerValue = stored === "uint8" ? 1 : stored === "uint16" ? 2 : stored === "float32" ? 4 : 0;
  if (bytesPerValue === 0) throw new Error(`weight ${entry.name} in ${manifestPath} is quantised as ${stored}; only uint8 and uint16 are read`);
  const byteLength = count * bytesPerValue;
  if (offset + byteLength > bytes.byteLength) {
    throw new Error(`weight ${entry.name} in ${manifestPath} needs bytes ${offset}..${offset + byteLength}, the shards hold ${bytes.byteLength}`);
  }
  // A copy, so each weight owns an aligned buffer of its own.
  const raw = new Uint8Array(bytes.subarray(offset, offset + byteLength)).buffer;
  if (stored === "float32") return { values: new Float32Array(raw), byteLength };
  const { scale, min } = entry.quantization ?? {};
  if (typeof scale !== "number" || typeof min !== "number") throw new Error(`weight ${entry.name} in ${manifestPath} is quantised without a scale and min`);
  const quantised = stored === "uint8" ? new Uint8Array(raw) : new Uint16Array(raw);
  const values = new Float32Array(count);
  for (let i = 0; i < count; i++) values[i] = (quantised[i] as number) * scale + min;
  return { values, byteLength };
}

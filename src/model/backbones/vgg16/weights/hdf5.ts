import { open, stat } from "node:fs/promises";
import { resolve } from "node:path";
import type h5wasmModule from "h5wasm/node";
import type { Dataset, Group, OutputData } from "h5wasm/node";
import { hashFile } from "../../../../util/file-hash.js";
import { kernelShape, vgg16ConvLayers, type Vgg16ConvLayer } from "../architecture.js";
import type { Vgg16ConvWeights, Vgg16Weights } from "./types.js";

/** Reading VGG16's ImageNet weights from the official Keras HDF5 file. */

type H5 = typeof h5wasmModule;
type H5File = InstanceType<H5["File"]>;

/*
 * h5wasm compiles a 4 MB WebAssembly module when imported, so it is loaded only when a file is
 * read: a process that embeds with random weights, or never touches VGG16, does not pay for it.
 */
let h5wasmLoaded: Promise<H5> | null = null;
function loadH5wasm(): Promise<H5> {
  h5wasmLoaded ??= import("h5wasm/node").then(async (module) => {
    await module.default.ready;
    return module.default;
  });
  return h5wasmLoaded;
}

/** The 8-byte HDF5 superblock signature. It sits at 0, or at 512, 1024, 2048... after a user block. */
const hdf5Signature = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/*
 * h5wasm neither throws for a missing file nor for one that is not HDF5: it returns a File with an
 * invalid id and prints HDF5's diagnostics. Checking existence and the signature first turns both
 * into errors that name the file.
 */
async function assertHdf5File(path: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw new Error(`VGG16 weights file ${path} cannot be read: ${(error as Error).message}`, { cause: error });
  }
  const handle = await open(path, "r");
  try {
    const probe = Buffer.alloc(hdf5Signature.length);
    for (let offset = 0; offset + probe.length <= size; offset = offset === 0 ? 512 : offset * 2) {
      await handle.read(probe, 0, probe.length, offset);
      if (probe.equals(hdf5Signature)) return;
    }
  } finally {
    await handle.close();
  }
  throw new Error(`VGG16 weights file ${path} is not an HDF5 file (no HDF5 signature found in its ${size} bytes)`);
}

/**
 * Reads the Keras weights file the way Keras' legacy_h5_format.load_weights_from_hdf5_group does:
 * the root attribute `layer_names` lists the layers in order, each layer's group has a
 * `weight_names` attribute, and the datasets are found at those names inside the group
 * ("block1_conv1_W_1:0" in the 2016 file, "block1_conv1/kernel:0" in newer ones). Layers without
 * weights (the input and the pools) are skipped, and the remaining ones are matched to the conv
 * layers in order, as Keras' topological loading does. Every count and shape is checked against
 * the architecture, and a mismatch names the layer and dataset.
 */
export async function readVgg16H5(path: string): Promise<Vgg16Weights> {
  await assertHdf5File(path);
  const sha256 = await hashFile(path, "sha256");
  const h5 = await loadH5wasm();
  const file: H5File = new h5.File(resolve(path), "r");
  try {
    if (file.file_id < 0n) throw new Error(`VGG16 weights file ${path} could not be opened by HDF5`);
    return { layers: readConvLayers(h5, weightsRoot(h5, file), path), sha256, random: false };
  } catch (error) {
    // Our own errors already name the file; h5wasm's (sometimes plain strings) do not.
    if (error instanceof Error && error.message.startsWith("VGG16 weights file")) throw error;
    throw new Error(`VGG16 weights file ${path} could not be read as HDF5: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  } finally {
    file.close();
  }
}

/** A whole saved model keeps its weights under "model_weights"; Keras' load_weights looks there too. */
function weightsRoot(h5: H5, file: H5File): Group {
  if (file.attrs.layer_names === undefined) {
    const nested = file.get("model_weights");
    if (nested instanceof h5.Group) return nested;
  }
  return file;
}

function readConvLayers(h5: H5, root: Group, path: string): Map<string, Vgg16ConvWeights> {
  const layerNames = readStringListAttribute(root, "layer_names", path);
  if (layerNames.length === 0) throw new Error(`VGG16 weights file ${path} has no "layer_names" attribute: it is not a Keras weights file`);
  const weighted = layerNames
    .map((name) => ({ name, group: layerGroup(h5, root, name, path) }))
    .map((entry) => ({ ...entry, weightNames: readStringListAttribute(entry.group, "weight_names", `${path}: layer ${entry.name}`) }))
    .filter((entry) => entry.weightNames.length > 0);
  assertLayerCount(weighted.map((entry) => entry.name), path);
  const layers = new Map<string, Vgg16ConvWeights>();
  vgg16ConvLayers.forEach((layer, index) => {
    const saved = weighted[index] as (typeof weighted)[number];
    layers.set(layer.name, readConvWeights(h5, saved, layer, path));
  });
  return layers;
}

function layerGroup(h5: H5, root: Group, name: string, path: string): Group {
  const group = root.get(name);
  if (!(group instanceof h5.Group)) throw new Error(`VGG16 weights file ${path} lists layer ${name} in layer_names but has no group ${name}`);
  return group;
}

/** Keras counts only layers with weights; a different count means a different network. */
function assertLayerCount(savedNames: string[], path: string): void {
  if (savedNames.length === vgg16ConvLayers.length) return;
  const expected = vgg16ConvLayers.map((layer) => layer.name);
  const missing = expected.filter((name) => !savedNames.includes(name));
  const unexpected = savedNames.filter((name) => !expected.includes(name));
  const details = [
    missing.length > 0 ? `missing ${missing.join(", ")}` : "",
    unexpected.length > 0 ? `unexpected ${unexpected.join(", ")}` : "",
  ].filter((part) => part !== "");
  throw new Error(
    `VGG16 weights file ${path} has ${savedNames.length} layers with weights, expected ${expected.length}` +
      (details.length > 0 ? ` (${details.join("; ")})` : ""),
  );
}

function readConvWeights(
  h5: H5,
  saved: { name: string; group: Group; weightNames: string[] },
  layer: Vgg16ConvLayer,
  path: string,
): Vgg16ConvWeights {
  const where = `layer ${saved.name} (VGG16 ${layer.name})`;
  if (saved.weightNames.length !== 2) {
    throw new Error(`VGG16 weights file ${path}: ${where} has ${saved.weightNames.length} weights (${saved.weightNames.join(", ")}), expected a kernel and a bias`);
  }
  const [kernelName, biasName] = saved.weightNames as [string, string];
  return {
    kernel: readFloat32Dataset(h5, saved.group, kernelName, kernelShape(layer), where, path),
    bias: readFloat32Dataset(h5, saved.group, biasName, [layer.outChannels], where, path),
  };
}

function readFloat32Dataset(h5: H5, group: Group, name: string, expectedShape: number[], where: string, path: string): Float32Array {
  const datasetPath = `${group.path.replace(/^\//, "")}/${name}`;
  const entity = group.get(name);
  if (!(entity instanceof h5.Dataset)) throw new Error(`VGG16 weights file ${path}: ${where} names dataset ${datasetPath}, which does not exist`);
  const dataset: Dataset = entity;
  const shape = dataset.shape ?? [];
  if (shape.length !== expectedShape.length || shape.some((size, axis) => size !== expectedShape[axis])) {
    throw new Error(`VGG16 weights file ${path}: dataset ${datasetPath} of ${where} has shape [${shape.join(", ")}], expected [${expectedShape.join(", ")}]`);
  }
  const value = dataset.value;
  if (value instanceof Float32Array) return value;
  // Weights saved in float64 are exact in intent only to float32, which is what Keras loads them as.
  if (value instanceof Float64Array) return Float32Array.from(value);
  throw new Error(`VGG16 weights file ${path}: dataset ${datasetPath} of ${where} is not floating point (dtype ${JSON.stringify(dataset.dtype)})`);
}

/**
 * Keras' load_attributes_from_hdf5_group: a string list stored under `name`, or, when it was too
 * large for one HDF5 object header, split across `name0`, `name1`, ... An absent attribute and
 * h5py's encoding of an empty list (a zero-length float array) both read as [].
 */
function readStringListAttribute(group: Group, name: string, where: string): string[] {
  const attrs = group.attrs;
  const whole = attrs[name];
  if (whole !== undefined) return toStringList(whole.value, `${where}: attribute ${name}`);
  const values: string[] = [];
  for (let chunk = 0; attrs[`${name}${chunk}`] !== undefined; chunk++) {
    values.push(...toStringList((attrs[`${name}${chunk}`] as (typeof attrs)[string]).value, `${where}: attribute ${name}${chunk}`));
  }
  return values;
}

function toStringList(value: OutputData | null, where: string): string[] {
  if (value === null) return [];
  if (typeof value === "string") return [stripPadding(value)];
  if (ArrayBuffer.isView(value) && value.byteLength === 0) return [];
  if (Array.isArray(value) && value.every((item): item is string => typeof item === "string")) return value.map(stripPadding);
  throw new Error(`VGG16 weights file ${where} is not a list of strings`);
}

/** h5py writes names as fixed-length byte strings, which may carry NUL padding. */
function stripPadding(text: string): string {
  return text.replace(/\0+$/, "");
}

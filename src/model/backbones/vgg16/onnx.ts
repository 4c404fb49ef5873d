import { availableParallelism } from "node:os";
import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import protobuf from "protobufjs";
import type { InferenceSession } from "onnxruntime-node";
import type { Pooling } from "../types.js";
import type { Logger } from "../../../log.js";
import { writeFileAtomic } from "../../../store/files.js";
import {
  kernelLength,
  validateVgg16InputSize,
  vgg16FeatureLength,
  vgg16KernelSize,
  vgg16Layers,
  vgg16PoolSize,
  type Vgg16ConvLayer,
  type Vgg16Engine,
} from "./architecture.js";
import { onnxWorkerSource, type OnnxRunRequest, type OnnxWorkerData, type OnnxWorkerMessage } from "./onnx-worker.js";
import { calibrationImages } from "./calibration.js";
import { convWeights, type Vgg16Weights } from "./weights.js";

/**
 * VGG16 as an ONNX model built in code from the weights, run by onnxruntime on the CPU. Building
 * the graph here rather than shipping an .onnx file means the one architecture definition and the
 * one weights file are all there is; onnxruntime then fuses Conv+ReLU and picks its own blocked
 * convolution layout, which makes it several times faster than tfjs-wasm on a CPU (about 140 vs
 * 1,200+ ms/image at 224 on 2 cores; bench/vgg16-forward.ts).
 */

/*
 * The part of onnx/onnx.proto this file writes, with the field numbers of the real schema (read
 * from onnx/onnx.proto; IR version 7 is the one that introduced opset 13). Unused fields are left
 * out: protobuf readers skip nothing they need, since absent optional fields take their defaults.
 */
const onnxSchema = `
syntax = "proto2";
package onnx;

message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  optional string name = 1;
  optional AttributeType type = 20;
  optional float f = 2;
  optional int64 i = 3;
  optional bytes s = 4;
  repeated int64 ints = 8;
}

message ValueInfoProto {
  optional string name = 1;
  optional TypeProto type = 2;
}

message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  optional string name = 3;
  optional string op_type = 4;
  optional string domain = 7;
  repeated AttributeProto attribute = 5;
}

message ModelProto {
  optional int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  optional string producer_name = 2;
  optional string producer_version = 3;
  optional string doc_string = 6;
  optional GraphProto graph = 7;
}

message GraphProto {
  repeated NodeProto node = 1;
  optional string name = 2;
  repeated TensorProto initializer = 5;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
}

message TensorProto {
  enum DataType { UNDEFINED = 0; FLOAT = 1; INT64 = 7; }
  repeated int64 dims = 1;
  optional int32 data_type = 2;
  optional string name = 8;
  optional bytes raw_data = 9;
}

message TensorShapeProto {
  message Dimension {
    oneof value {
      int64 dim_value = 1;
      string dim_param = 2;
    }
  }
  repeated Dimension dim = 1;
}

message TypeProto {
  message Tensor {
    optional int32 elem_type = 1;
    optional TensorShapeProto shape = 2;
  }
  oneof value {
    Tensor tensor_type = 1;
  }
}

message OperatorSetIdProto {
  optional string domain = 1;
  optional int64 version = 2;
}
`;

const irVersion = 7;
const opsetVersion = 13;
const floatType = 1;
const uint8Type = 2;
const int8Type = 3;
const int32Type = 6;
const attributeType = { int: 2, ints: 7 } as const;

/** keepCase keeps the schema's snake_case field names, so plain objects below can use them. */
let modelProtoType: protobuf.Type | null = null;
function modelProto(): protobuf.Type {
  modelProtoType ??= protobuf.parse(onnxSchema, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return modelProtoType;
}

/**
 * How the graph takes its input. "nhwc" takes the backbone's NHWC buffer as it is and transposes
 * inside the graph; "nchw" expects the caller to transpose in JS. Measured at 224 on 2 cores, the
 * two are within noise of each other (best 136 vs 138 ms/image at batch 4): onnxruntime reorders
 * the input into its blocked layout either way. "nhwc" is the default because it keeps the JS side
 * free of a copy.
 */
export type OnnxInputLayout = "nhwc" | "nchw";

export interface Vgg16GraphOptions {
  inputSize: number;
  pooling: Pooling;
  inputLayout?: OnnxInputLayout;
}

/**
 * fp32: the float graph, exactly Keras' arithmetic. int8: convolutions in 8-bit integers
 * (QLinearConv, per-channel symmetric int8 weights, uint8 activations with zero point 0, so the
 * clamp at 0 is the ReLU); about 3.7x faster where the CPU has VNNI instructions (37 vs 139 ms/image
 * at 224 on this project's 2-core machine), at the cost of a small difference in the features.
 */
export type Vgg16Precision = "fp32" | "int8";

/** Activation scales for the int8 graph, measured on the calibration photos. */
export interface Int8Scales {
  input: { scale: number; zeroPoint: number };
  /** Per conv layer name: the scale of its (post-ReLU) uint8 output. */
  layers: Record<string, number>;
}

const inputName = "input";
const outputName = "features";

interface NodeSpec {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Array<{ name: string; type: number; i?: number; ints?: number[] }>;
}

function intsAttribute(name: string, ints: number[]) {
  return { name, type: attributeType.ints, ints };
}

function intAttribute(name: string, i: number) {
  return { name, type: attributeType.int, i };
}

/** Keras' kernels are [h, w, in, out]; ONNX Conv wants [out, in, h, w]. */
export function hwioToOihw(kernel: Float32Array, inChannels: number, outChannels: number): Float32Array {
  const k = vgg16KernelSize;
  const out = new Float32Array(kernel.length);
  for (let h = 0; h < k; h++) {
    for (let w = 0; w < k; w++) {
      for (let i = 0; i < inChannels; i++) {
        const from = ((h * k + w) * inChannels + i) * outChannels;
        for (let o = 0; o < outChannels; o++) {
          out[((o * inChannels + i) * k + h) * k + w] = kernel[from + o] as number;
        }
      }
    }
  }
  return out;
}

function floatInitializer(name: string, dims: number[], values: Float32Array) {
  // raw_data must be little-endian; every platform Node and onnxruntime ship for is.
  return { name, dims, data_type: floatType, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

function typedInitializer(name: string, dims: number[], dataType: number, values: Float32Array | Int8Array | Uint8Array | Int32Array) {
  return { name, dims, data_type: dataType, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

function convNodes(layer: Vgg16ConvLayer, input: string, weights: Vgg16Weights) {
  const { kernel, bias } = convWeights(weights, layer);
  const k = vgg16KernelSize;
  const initializers = [
    floatInitializer(`${layer.name}_kernel`, [layer.outChannels, layer.inChannels, k, k], hwioToOihw(kernel, layer.inChannels, layer.outChannels)),
    floatInitializer(`${layer.name}_bias`, [layer.outChannels], bias),
  ];
  // "same" padding for a 3x3 kernel of stride 1 is one pixel on every side, as in Keras.
  const conv: NodeSpec = {
    op_type: "Conv",
    name: `${layer.name}_conv`,
    input: [input, `${layer.name}_kernel`, `${layer.name}_bias`],
    output: [`${layer.name}_preact`],
    attribute: [intsAttribute("kernel_shape", [k, k]), intsAttribute("pads", [1, 1, 1, 1]), intsAttribute("strides", [1, 1])],
  };
  const relu: NodeSpec = { op_type: "Relu", name: `${layer.name}_relu`, input: [`${layer.name}_preact`], output: [layer.name], attribute: [] };
  return { nodes: [conv, relu], initializers };
}

function poolNode(name: string, input: string): NodeSpec {
  return {
    op_type: "MaxPool",
    name,
    input: [input],
    output: [name],
    attribute: [intsAttribute("kernel_shape", [vgg16PoolSize, vgg16PoolSize]), intsAttribute("strides", [vgg16PoolSize, vgg16PoolSize])],
  };
}

/*
 * "avg" is Keras' GlobalAveragePooling2D. "flatten" must match Keras' Flatten on channels_last
 * maps, whose order is row, column, channel: the NCHW map is transposed back to NHWC first.
 */
function headNodes(pooling: Pooling, input: string): NodeSpec[] {
  if (pooling === "avg") {
    return [
      { op_type: "GlobalAveragePool", name: "avg_pool", input: [input], output: ["avg_pool"], attribute: [] },
      { op_type: "Flatten", name: "flatten", input: ["avg_pool"], output: [outputName], attribute: [intAttribute("axis", 1)] },
    ];
  }
  return [
    { op_type: "Transpose", name: "to_nhwc", input: [input], output: ["block5_pool_nhwc"], attribute: [intsAttribute("perm", [0, 2, 3, 1])] },
    { op_type: "Flatten", name: "flatten", input: ["block5_pool_nhwc"], output: [outputName], attribute: [intAttribute("axis", 1)] },
  ];
}

function tensorValueInfo(name: string, dims: Array<number | string>) {
  const dim = dims.map((size) => (typeof size === "string" ? { dim_param: size } : { dim_value: size }));
  return { name, type: { tensor_type: { elem_type: floatType, shape: { dim } } } };
}

function serialiseGraph(nodes: NodeSpec[], initializers: object[], options: Vgg16GraphOptions, doc: string, extraOutputs: string[] = []): Uint8Array {
  const size = options.inputSize;
  const layout = options.inputLayout ?? "nhwc";
  // The batch is symbolic so one session serves every batch size; the spatial size is fixed,
  // which lets onnxruntime plan its buffers once.
  const inputDims = layout === "nhwc" ? ["N", size, size, 3] : ["N", 3, size, size];
  const model = {
    ir_version: irVersion,
    opset_import: [{ domain: "", version: opsetVersion }],
    producer_name: "faceops",
    doc_string: doc,
    graph: {
      name: "vgg16",
      node: nodes,
      initializer: initializers,
      input: [tensorValueInfo(inputName, inputDims)],
      output: [
        tensorValueInfo(outputName, ["N", vgg16FeatureLength(size, options.pooling)]),
        ...extraOutputs.map((name) => ({ name, type: { tensor_type: { elem_type: floatType } } })),
      ],
    },
  };
  return modelProto().encode(model).finish();
}

function inputNodes(layout: OnnxInputLayout): { nodes: NodeSpec[]; output: string } {
  if (layout === "nchw") return { nodes: [], output: inputName };
  return { nodes: [{ op_type: "Transpose", name: "to_nchw", input: [inputName], output: ["input_nchw"], attribute: [intsAttribute("perm", [0, 3, 1, 2])] }], output: "input_nchw" };
}

/**
 * The serialised ModelProto for these weights, input size, pooling and input layout.
 * `exposeActivations` adds every conv layer's output as a graph output, for calibration.
 */
export function buildVgg16Onnx(weights: Vgg16Weights, options: Vgg16GraphOptions & { exposeActivations?: boolean }): Uint8Array {
  const size = validateVgg16InputSize(options.inputSize);
  const input = inputNodes(options.inputLayout ?? "nhwc");
  const nodes: NodeSpec[] = [...input.nodes];
  const initializers: object[] = [];
  let current = input.output;
  for (const layer of vgg16Layers) {
    if (layer.kind === "conv") {
      const built = convNodes(layer, current, weights);
      nodes.push(...built.nodes);
      initializers.push(...built.initializers);
    } else {
      nodes.push(poolNode(layer.name, current));
    }
    current = layer.name;
  }
  nodes.push(...headNodes(options.pooling, current));
  const exposed = options.exposeActivations ? vgg16Layers.filter((layer) => layer.kind === "conv").map((layer) => layer.name) : [];
  return serialiseGraph(nodes, initializers, { ...options, inputSize: size }, `VGG16 conv base (Keras include_top=False), ${size}x${size}, pooling ${options.pooling}, weights ${weights.sha256}`, exposed);
}

/** The int8 graph: see Vgg16Precision. Weights are quantised here, per output channel. */
export function buildVgg16OnnxInt8(weights: Vgg16Weights, options: Vgg16GraphOptions, scales: Int8Scales): Uint8Array {
  const size = validateVgg16InputSize(options.inputSize);
  const input = inputNodes(options.inputLayout ?? "nhwc");
  const nodes: NodeSpec[] = [...input.nodes];
  const initializers: object[] = [
    typedInitializer("input_scale", [], floatType, Float32Array.of(scales.input.scale)),
    typedInitializer("input_zero_point", [], uint8Type, Uint8Array.of(scales.input.zeroPoint)),
    typedInitializer("activation_zero_point", [], uint8Type, Uint8Array.of(0)),
  ];
  nodes.push({ op_type: "QuantizeLinear", name: "quantize_input", input: [input.output, "input_scale", "input_zero_point"], output: ["input_q"], attribute: [] });
  let current = "input_q";
  let currentScale = scales.input.scale;
  let scaleName = "input_scale";
  let zeroPointName = "input_zero_point";
  const k = vgg16KernelSize;
  for (const layer of vgg16Layers) {
    if (layer.kind === "pool") {
      nodes.push(poolNode(layer.name, current));
      current = layer.name;
      continue;
    }
    const { kernel, bias } = convWeights(weights, layer);
    const oihw = hwioToOihw(kernel, layer.inChannels, layer.outChannels);
    const perOutput = layer.inChannels * k * k;
    const quantised = new Int8Array(oihw.length);
    const weightScales = new Float32Array(layer.outChannels);
    const biasQ = new Int32Array(layer.outChannels);
    for (let o = 0; o < layer.outChannels; o++) {
      let largest = 0;
      for (let i = o * perOutput; i < (o + 1) * perOutput; i++) largest = Math.max(largest, Math.abs(oihw[i] as number));
      const scale = largest > 0 ? largest / 127 : 1;
      weightScales[o] = scale;
      for (let i = o * perOutput; i < (o + 1) * perOutput; i++) quantised[i] = Math.max(-127, Math.min(127, Math.round((oihw[i] as number) / scale)));
      biasQ[o] = Math.round((bias[o] as number) / (currentScale * scale));
    }
    const outputScale = scales.layers[layer.name];
    if (!(outputScale !== undefined && outputScale > 0)) throw new RangeError(`no int8 activation scale for ${layer.name}`);
    initializers.push(
      typedInitializer(`${layer.name}_kernel_q`, [layer.outChannels, layer.inChannels, k, k], int8Type, quantised),
      typedInitializer(`${layer.name}_kernel_scale`, [layer.outChannels], floatType, weightScales),
      typedInitializer(`${layer.name}_kernel_zero_point`, [layer.outChannels], int8Type, new Int8Array(layer.outChannels)),
      typedInitializer(`${layer.name}_scale`, [], floatType, Float32Array.of(outputScale)),
      typedInitializer(`${layer.name}_bias_q`, [layer.outChannels], int32Type, biasQ),
    );
    nodes.push({
      op_type: "QLinearConv",
      name: `${layer.name}_conv`,
      input: [current, scaleName, zeroPointName, `${layer.name}_kernel_q`, `${layer.name}_kernel_scale`, `${layer.name}_kernel_zero_point`, `${layer.name}_scale`, "activation_zero_point", `${layer.name}_bias_q`],
      output: [layer.name],
      attribute: [intsAttribute("kernel_shape", [k, k]), intsAttribute("pads", [1, 1, 1, 1]), intsAttribute("strides", [1, 1])],
    });
    current = layer.name;
    currentScale = outputScale;
    scaleName = `${layer.name}_scale`;
    zeroPointName = "activation_zero_point";
  }
  nodes.push({ op_type: "DequantizeLinear", name: "dequantize", input: [current, scaleName, zeroPointName], output: ["block5_pool_float"], attribute: [] });
  nodes.push(...headNodes(options.pooling, "block5_pool_float"));
  return serialiseGraph(nodes, initializers, { ...options, inputSize: size }, `VGG16 conv base, int8, ${size}x${size}, pooling ${options.pooling}, weights ${weights.sha256}`);
}

/**
 * Measures the int8 scales on calibration images (NHWC, caffe-normalised) with the float graph: the
 * input's range, and each conv layer's largest output (ReLU outputs are never negative, so zero
 * point 0 and scale = largest / 255).
 */
export async function calibrateInt8(weights: Vgg16Weights, options: Vgg16GraphOptions, images: { data: Float32Array; count: number }): Promise<Int8Scales> {
  const size = validateVgg16InputSize(options.inputSize);
  const ort = await import("onnxruntime-node");
  const session = await ort.InferenceSession.create(buildVgg16Onnx(weights, { ...options, inputLayout: "nhwc", exposeActivations: true }), {
    executionProviders: ["cpu"],
    graphOptimizationLevel: "all",
  });
  try {
    let low = Infinity;
    let high = -Infinity;
    for (const value of images.data) {
      if (value < low) low = value;
      if (value > high) high = value;
    }
    const layers: Record<string, number> = {};
    const perImage = size * size * 3;
    for (let start = 0; start < images.count; start += 4) {
      const count = Math.min(4, images.count - start);
      const batch = images.data.subarray(start * perImage, (start + count) * perImage);
      const results = await session.run({ [inputName]: new ort.Tensor("float32", batch, [count, size, size, 3]) });
      for (const layer of vgg16Layers) {
        if (layer.kind !== "conv") continue;
        let largest = layers[layer.name] ?? 0;
        for (const value of results[layer.name]?.data as Float32Array) if (value > largest) largest = value;
        layers[layer.name] = largest;
      }
    }
    for (const name of Object.keys(layers)) layers[name] = (layers[name] as number) > 0 ? (layers[name] as number) / 255 : 1e-6;
    const scale = high > low ? (high - low) / 255 : 1;
    return { input: { scale, zeroPoint: Math.max(0, Math.min(255, Math.round(-low / scale))) }, layers };
  } finally {
    await session.release();
  }
}

/*
 * The serialised graph is kept per weights object (and dropped with it), so a second engine for
 * the same weights does not transpose and encode 58 MB again.
 */
const graphCache = new WeakMap<Vgg16Weights, Map<string, Uint8Array>>();

export function vgg16OnnxBytes(weights: Vgg16Weights, options: Vgg16GraphOptions): Uint8Array {
  const key = `${options.inputSize}/${options.pooling}/${options.inputLayout ?? "nhwc"}`;
  let perWeights = graphCache.get(weights);
  if (!perWeights) {
    perWeights = new Map();
    graphCache.set(weights, perWeights);
  }
  let bytes = perWeights.get(key);
  if (!bytes) {
    bytes = buildVgg16Onnx(weights, options);
    perWeights.set(key, bytes);
  }
  return bytes;
}

/** Writes the graph as an .onnx file, e.g. to inspect it with Netron or run it elsewhere. */
export async function exportOnnx(path: string, weights: Vgg16Weights, options: Vgg16GraphOptions): Promise<void> {
  await writeFileAtomic(path, vgg16OnnxBytes(weights, options));
}

export interface OnnxEngineOptions extends Vgg16GraphOptions {
  weights: Vgg16Weights;
  log: Logger;
  /** Runs larger batches in pieces of this size. Default: the fastest measured (see onnxDefaultBatchSize). */
  batchSize?: number;
  /** Intra-op threads; the number of cores by default. */
  threads?: number;
  /** Default "fp32". */
  precision?: Vgg16Precision;
}

/** Scales are measured once per weights object, input size and pooling. */
const int8ScalesCache = new WeakMap<Vgg16Weights, Map<string, Promise<{ scales: Int8Scales; calibration: string }>>>();

function int8ScalesFor(weights: Vgg16Weights, options: Vgg16GraphOptions): Promise<{ scales: Int8Scales; calibration: string }> {
  let perWeights = int8ScalesCache.get(weights);
  if (!perWeights) {
    perWeights = new Map();
    int8ScalesCache.set(weights, perWeights);
  }
  const key = `${options.inputSize}-${options.pooling}`;
  let found = perWeights.get(key);
  if (!found) {
    found = (async () => {
      const images = await calibrationImages(options.inputSize);
      return { scales: await calibrateInt8(weights, options, images), calibration: images.sha256 };
    })();
    perWeights.set(key, found);
    found.catch(() => perWeights.delete(key));
  }
  return found;
}

/**
 * Measured at 224 on 2 cores (bench/vgg16-forward.ts, best of many runs): batch 1 ~149 ms/image,
 * batch 4 ~136, batch 8 ~137. While another process competes for a core the gap widens (about
 * 360 vs 285 ms/image), because bigger operators spend less time synchronising threads. Batch 4
 * gets all of that; 8 only adds memory and latency.
 */
export const onnxDefaultBatchSize = 4;

export async function createOnnxVgg16Engine(options: OnnxEngineOptions): Promise<Vgg16Engine> {
  const size = validateVgg16InputSize(options.inputSize);
  const layout = options.inputLayout ?? "nhwc";
  const batchSize = options.batchSize ?? onnxDefaultBatchSize;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`ONNX batch size must be a positive integer, received ${String(batchSize)}`);
  const threads = options.threads ?? availableParallelism();
  const precision = options.precision ?? "fp32";
  if (precision !== "fp32" && precision !== "int8") throw new RangeError(`VGG16 precision must be "fp32" or "int8", received ${JSON.stringify(precision)}`);
  const started = performance.now();
  const graphOptions = { inputSize: size, pooling: options.pooling, inputLayout: layout };
  let bytes: Uint8Array;
  let numerics: string | undefined;
  if (precision === "int8") {
    const { scales, calibration } = await int8ScalesFor(options.weights, graphOptions);
    bytes = buildVgg16OnnxInt8(options.weights, graphOptions, scales);
    numerics = `int8-qlinearconv-calibration-${calibration.slice(0, 16)}`;
  } else {
    bytes = vgg16OnnxBytes(options.weights, graphOptions);
  }
  const sessionOptions: InferenceSession.SessionOptions = {
    executionProviders: ["cpu"],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  };
  const session = await OnnxSessionThread.start(bytes, sessionOptions);
  options.log.debug(
    { inputSize: size, pooling: options.pooling, precision, threads, batchSize, graphBytes: bytes.byteLength, ms: Math.round(performance.now() - started) },
    "onnxruntime VGG16 session ready",
  );
  const featureLength = vgg16FeatureLength(size, options.pooling);
  let released = false;
  return {
    name: precision === "int8" ? "onnxruntime-cpu-int8" : "onnxruntime-cpu",
    numerics,
    preferredBatchSize: batchSize,
    async run(input, count) {
      if (released) throw new Error("the onnxruntime VGG16 engine was disposed");
      const perImage = size * size * 3;
      if (input.length !== count * perImage) {
        throw new RangeError(`VGG16 input for ${count} images of ${size}x${size} needs ${count * perImage} values, received ${input.length}`);
      }
      const data = layout === "nhwc" ? input : nhwcToNchw(input, count, size);
      const dims = layout === "nhwc" ? [count, size, size, 3] : [count, 3, size, size];
      const output = await session.run(data, dims);
      if (output.type !== "float32" || output.data.length !== count * featureLength) {
        throw new Error(`onnxruntime returned ${output.type} [${output.dims.join(", ")}], expected float32 [${count}, ${featureLength}]`);
      }
      return output.data;
    },
    async dispose() {
      if (released) return;
      released = true;
      await session.close();
    },
  };
}

/** The session in a worker thread (onnx-worker.ts explains why). Runs are answered in order. */
class OnnxSessionThread {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (output: { data: Float32Array; type: string; dims: readonly number[] }) => void; reject: (error: Error) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly worker: Worker) {
    worker.on("message", (message: OnnxWorkerMessage) => {
      if (!("id" in message)) return;
      const pending = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if ("error" in message) pending?.reject(new Error(`onnxruntime failed: ${message.error}`));
      else pending?.resolve({ data: message.output, type: message.type, dims: message.dims });
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const pending of this.waiting.values()) pending.reject(error);
      this.waiting.clear();
    };
    worker.on("error", (error) => fail(new Error(`the onnxruntime thread failed: ${error.message}`, { cause: error })));
    worker.on("exit", (code) => fail(new Error(`the onnxruntime thread exited (code ${code})`)));
  }

  static async start(model: Uint8Array, options: InferenceSession.SessionOptions): Promise<OnnxSessionThread> {
    // A copy of the graph goes to the worker: the original stays cached for the next session.
    // (protobufjs hands out a Buffer, whose slice() would share memory rather than copy it.)
    const copy = new Uint8Array(model.byteLength);
    copy.set(model);
    const data: OnnxWorkerData = { runtimePath: createRequire(import.meta.url).resolve("onnxruntime-node"), model: copy.buffer, options, inputName, outputName };
    const worker = new Worker(onnxWorkerSource, { eval: true, workerData: data, transferList: [data.model] });
    const ready = await new Promise<OnnxWorkerMessage>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the onnxruntime thread exited (code ${code}) before its session was ready`)));
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    if ("ready" in ready && !ready.ready) {
      await worker.terminate();
      throw new Error(`onnxruntime could not load the VGG16 graph: ${ready.error}`);
    }
    return new OnnxSessionThread(worker);
  }

  run(input: Float32Array, dims: number[]): Promise<{ data: Float32Array; type: string; dims: readonly number[] }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Copied, not transferred: callers may reuse their input, and a batch's copy costs ~1 ms.
      this.worker.postMessage({ id, input, dims } satisfies OnnxRunRequest);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error("the onnxruntime VGG16 engine was disposed");
    for (const pending of this.waiting.values()) pending.reject(this.failure);
    this.waiting.clear();
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

/** For the "nchw" layout: moves the channel axis in front of the spatial ones, image by image. */
export function nhwcToNchw(input: Float32Array, count: number, size: number): Float32Array {
  const out = new Float32Array(input.length);
  const plane = size * size;
  for (let n = 0; n < count; n++) {
    const base = n * plane * 3;
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) out[base + c * plane + p] = input[base + p * 3 + c] as number;
    }
  }
  return out;
}

/** Total float32 values in the graph's initializers, for logs and sanity checks. */
export function vgg16ParameterCount(): number {
  return vgg16Layers.reduce((sum, layer) => (layer.kind === "conv" ? sum + kernelLength(layer) + layer.outChannels : sum), 0);
}

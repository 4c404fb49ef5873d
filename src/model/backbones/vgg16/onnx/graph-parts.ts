import type { Pooling } from "../../types.js";
import { vgg16FeatureLength, vgg16KernelSize, vgg16PoolSize } from "../architecture.js";
import { attributeType, floatType, irVersion, modelProto, opsetVersion } from "./protobuf-schema.js";

/**
 * The pieces both VGG16 graphs (fp32-graph.ts, int8-graph.ts) are built from: the input and the
 * pooling head, max pools, initializers in ONNX's layouts, and the serialised ModelProto.
 */

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

export const inputName = "input";
export const outputName = "features";

export interface NodeSpec {
  op_type: string;
  name: string;
  input: string[];
  output: string[];
  attribute: Array<{ name: string; type: number; i?: number; ints?: number[] }>;
}

export function intsAttribute(name: string, ints: number[]) {
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

export function floatInitializer(name: string, dims: number[], values: Float32Array) {
  // raw_data must be little-endian; every platform Node and onnxruntime ship for is.
  return { name, dims, data_type: floatType, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function typedInitializer(name: string, dims: number[], dataType: number, values: Float32Array | Int8Array | Uint8Array | Int32Array) {
  return { name, dims, data_type: dataType, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

export function poolNode(name: string, input: string): NodeSpec {
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
export function headNodes(pooling: Pooling, input: string): NodeSpec[] {
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

export function serialiseGraph(nodes: NodeSpec[], initializers: object[], options: Vgg16GraphOptions, doc: string, extraOutputs: string[] = []): Uint8Array {
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

export function inputNodes(layout: OnnxInputLayout): { nodes: NodeSpec[]; output: string } {
  if (layout === "nchw") return { nodes: [], output: inputName };
  return { nodes: [{ op_type: "Transpose", name: "to_nchw", input: [inputName], output: ["input_nchw"], attribute: [intsAttribute("perm", [0, 3, 1, 2])] }], output: "input_nchw" };
}

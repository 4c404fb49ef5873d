import type { Pooling } from "../../types.js";
import { vgg16FeatureLength, vgg16PoolSize } from "../architecture.js";
import { intAttribute, intsAttribute, serialiseModel, tensorValueInfo, type NodeSpec } from "../../../onnx/graph.js";

/**
 * The VGG16-specific pieces both VGG16 graphs (fp32-graph.ts, int8-graph.ts) are built from: the
 * input and the pooling head, max pools, and the serialised model with VGG16's input and output.
 * The network-neutral parts (nodes, initializers, the ModelProto) are in src/model/onnx/graph.ts.
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

export function serialiseGraph(nodes: NodeSpec[], initializers: object[], options: Vgg16GraphOptions, doc: string, extraOutputs: string[] = []): Uint8Array {
  const size = options.inputSize;
  const layout = options.inputLayout ?? "nhwc";
  // The batch is symbolic so one session serves every batch size; the spatial size is fixed,
  // which lets onnxruntime plan its buffers once.
  const inputDims = layout === "nhwc" ? ["N", size, size, 3] : ["N", 3, size, size];
  return serialiseModel({
    name: "vgg16",
    doc,
    nodes,
    initializers,
    inputs: [tensorValueInfo(inputName, inputDims)],
    outputs: [tensorValueInfo(outputName, ["N", vgg16FeatureLength(size, options.pooling)]), ...extraOutputs.map((name) => tensorValueInfo(name))],
  });
}

export function inputNodes(layout: OnnxInputLayout): { nodes: NodeSpec[]; output: string } {
  if (layout === "nchw") return { nodes: [], output: inputName };
  return { nodes: [{ op_type: "Transpose", name: "to_nchw", input: [inputName], output: ["input_nchw"], attribute: [intsAttribute("perm", [0, 3, 1, 2])] }], output: "input_nchw" };
}

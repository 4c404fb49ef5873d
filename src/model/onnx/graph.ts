import { attributeType, floatType, int64Type, irVersion, modelProto, opsetVersion } from "./protobuf-schema.js";

/**
 * The network-neutral pieces of an ONNX graph built in code: nodes and their attributes,
 * initializers from typed arrays, and the serialised ModelProto. The VGG16 graphs
 * (backbones/vgg16/onnx/) and the face embedding graph (backbones/face-embedding-onnx/) are built
 * from these.
 */

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

export function intAttribute(name: string, i: number) {
  return { name, type: attributeType.int, i };
}

export function floatInitializer(name: string, dims: number[], values: Float32Array) {
  return typedInitializer(name, dims, floatType, values);
}

/** An int64 tensor, e.g. the `pads` input of Pad (opset 13 takes it as a tensor, not an attribute). */
export function int64Initializer(name: string, values: readonly number[]) {
  return typedInitializer(name, [values.length], int64Type, BigInt64Array.from(values.map((value) => BigInt(value))));
}

export function typedInitializer(name: string, dims: number[], dataType: number, values: Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array) {
  // raw_data must be little-endian; every platform Node and onnxruntime ship for is.
  return { name, dims, data_type: dataType, raw_data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}

/** TensorFlow's (and Keras') kernels are [h, w, in, out]; ONNX Conv wants [out, in, h, w]. */
export function hwioToOihw(kernel: Float32Array, kernelSize: number, inChannels: number, outChannels: number): Float32Array {
  const k = kernelSize;
  if (kernel.length !== k * k * inChannels * outChannels) {
    throw new RangeError(`a ${k}x${k} kernel from ${inChannels} to ${outChannels} channels has ${k * k * inChannels * outChannels} values, received ${kernel.length}`);
  }
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

/** A float tensor's name and shape; a string dimension is symbolic (e.g. "N", the batch). */
export function tensorValueInfo(name: string, dims?: Array<number | string>) {
  if (!dims) return { name, type: { tensor_type: { elem_type: floatType } } };
  const dim = dims.map((size) => (typeof size === "string" ? { dim_param: size } : { dim_value: size }));
  return { name, type: { tensor_type: { elem_type: floatType, shape: { dim } } } };
}

export interface GraphSpec {
  name: string;
  /** The model's doc_string: what the graph is, for anyone who opens the file in Netron. */
  doc: string;
  nodes: NodeSpec[];
  initializers: object[];
  inputs: object[];
  outputs: object[];
}

/** The serialised ModelProto, at the IR and opset versions protobuf-schema.ts names. */
export function serialiseModel(graph: GraphSpec): Uint8Array {
  const model = {
    ir_version: irVersion,
    opset_import: [{ domain: "", version: opsetVersion }],
    producer_name: "faceops",
    doc_string: graph.doc,
    graph: { name: graph.name, node: graph.nodes, initializer: graph.initializers, input: graph.inputs, output: graph.outputs },
  };
  return modelProto().encode(model).finish();
}

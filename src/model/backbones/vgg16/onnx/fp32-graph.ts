import { writeFileAtomic } from "../../../../store/files.js";
import { validateVgg16InputSize, vgg16KernelSize, vgg16Layers, type Vgg16ConvLayer } from "../architecture.js";
import { convWeights, type Vgg16Weights } from "../weights/index.js";
import { floatInitializer, hwioToOihw, intsAttribute, type NodeSpec } from "../../../onnx/graph.js";
import { headNodes, inputNodes, poolNode, serialiseGraph, type Vgg16GraphOptions } from "./graph-parts.js";

/**
 * VGG16's float graph, exactly Keras' arithmetic: each conv layer a Conv and a Relu node over the
 * weights transposed to ONNX's layout. The serialised bytes are cached per weights object, and can
 * be written out as an .onnx file.
 */

function convNodes(layer: Vgg16ConvLayer, input: string, weights: Vgg16Weights) {
  const { kernel, bias } = convWeights(weights, layer);
  const k = vgg16KernelSize;
  const initializers = [
    floatInitializer(`${layer.name}_kernel`, [layer.outChannels, layer.inChannels, k, k], hwioToOihw(kernel, k, layer.inChannels, layer.outChannels)),
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

import { validateVgg16InputSize, vgg16KernelSize, vgg16Layers } from "../architecture.js";
import { convWeights, type Vgg16Weights } from "../weights/index.js";
import { hwioToOihw, intsAttribute, typedInitializer, type NodeSpec } from "../../../onnx/graph.js";
import { floatType, int32Type, int8Type, uint8Type } from "../../../onnx/protobuf-schema.js";
import { headNodes, inputNodes, poolNode, serialiseGraph, type Vgg16GraphOptions } from "./graph-parts.js";

/**
 * VGG16's int8 graph (see Vgg16Precision in engine.ts): per-channel symmetric int8 weights,
 * quantised here, and uint8 activations at the scales int8-calibration.ts measured.
 */

/** Activation scales for the int8 graph, measured on the calibration photos. */
export interface Int8Scales {
  input: { scale: number; zeroPoint: number };
  /** Per conv layer name: the scale of its (post-ReLU) uint8 output. */
  layers: Record<string, number>;
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
    const oihw = hwioToOihw(kernel, k, layer.inChannels, layer.outChannels);
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

import { floatInitializer, hwioToOihw, int64Initializer, intAttribute, intsAttribute, serialiseModel, tensorValueInfo, type NodeSpec } from "../../onnx/graph.js";
import type { WeightMap } from "./weights.js";

/**
 * face-api's face recognition net (dlib's ResNet-34-like dlib_face_recognition_resnet_model_v1)
 * as an ONNX graph, built here from face-api's packaged weights. It follows
 * FaceRecognitionNet.forwardInput of @vladmandic/face-api (src/faceRecognitionNet/) operation for
 * operation:
 *
 * - the input, raw RGB 0..255, minus dlib's mean RGB, divided by 255;
 * - a 7x7 convolution of stride 2 ("valid"), then a 3x3 max pool of stride 2;
 * - residual blocks of two 3x3 convolutions; a "down" block starts with a stride-2 "valid"
 *   convolution, and its shortcut is a 2x2 average pool, padded with zero channels where the block
 *   widens, and the block's output is padded with a zero row and column where the pool's map is
 *   one larger (face-api's residualDown);
 * - every convolution is followed by dlib's affine "scale" layer (x * weights + biases), and by a
 *   ReLU except the second one of a block, whose ReLU comes after the shortcut is added;
 * - the mean over the final 256-channel map, then a 256x128 matrix: the 128-d descriptor (not
 *   yet scaled to unit length).
 *
 * The scale layer is folded into its convolution (kernel x weights, bias x weights + biases),
 * which is the same affine map; the descriptors then differ from TensorFlow.js's only by float
 * rounding (bench/face-embedding-engines.ts measures by how much).
 */

export const faceNetInputSize = 150;
export const faceNetDescriptorLength = 128;
export const faceNetInputName = "rgb";
export const faceNetOutputName = "descriptor";

/** dlib's mean RGB, which face-api subtracts before dividing by 255. */
const meanRgb = [122.782, 117.001, 104.298];

type BlockKind = "residual" | "down";

/** The blocks after the stem, in order; the channel counts come from the weights. */
const blocks: ReadonlyArray<{ name: string; kind: BlockKind }> = [
  { name: "conv32_1", kind: "residual" },
  { name: "conv32_2", kind: "residual" },
  { name: "conv32_3", kind: "residual" },
  { name: "conv64_down", kind: "down" },
  { name: "conv64_1", kind: "residual" },
  { name: "conv64_2", kind: "residual" },
  { name: "conv64_3", kind: "residual" },
  { name: "conv128_down", kind: "down" },
  { name: "conv128_1", kind: "residual" },
  { name: "conv128_2", kind: "residual" },
  { name: "conv256_down", kind: "down" },
  { name: "conv256_1", kind: "residual" },
  { name: "conv256_2", kind: "residual" },
  { name: "conv256_down_out", kind: "down" },
];

/** A map flowing through the graph: its name, channels and (square) spatial size. */
interface FeatureMap {
  name: string;
  channels: number;
  size: number;
}

class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: object[] = [];

  constructor(private readonly weights: WeightMap) {}

  weight(name: string, rank: number): { shape: number[]; values: Float32Array } {
    const found = this.weights.get(name);
    if (!found) throw new Error(`face-api's face recognition weights have no ${name}`);
    if (found.shape.length !== rank) throw new Error(`face-api weight ${name} has shape [${found.shape.join(", ")}], expected rank ${rank}`);
    return found;
  }

  node(op_type: string, name: string, input: string[], attribute: NodeSpec["attribute"] = []): string {
    this.nodes.push({ op_type, name, input, output: [name], attribute });
    return name;
  }

  /** Conv + bias with the scale layer folded in, and a ReLU unless `relu` is false. */
  conv(prefix: string, input: FeatureMap, options: { stride: 1 | 2; padding: "same" | "valid"; relu: boolean }): FeatureMap {
    const filters = this.weight(`${prefix}/conv/filters`, 4);
    const [k, , inChannels, outChannels] = filters.shape as [number, number, number, number];
    if (inChannels !== input.channels) throw new Error(`face-api weight ${prefix}/conv/filters takes ${inChannels} channels, its input has ${input.channels}`);
    const bias = this.weight(`${prefix}/conv/bias`, 1).values;
    const scale = this.weight(`${prefix}/scale/weights`, 1).values;
    const shift = this.weight(`${prefix}/scale/biases`, 1).values;
    const kernel = hwioToOihw(filters.values, k, inChannels, outChannels);
    const perOutput = inChannels * k * k;
    const foldedBias = new Float32Array(outChannels);
    for (let o = 0; o < outChannels; o++) {
      const s = scale[o] as number;
      for (let i = o * perOutput; i < (o + 1) * perOutput; i++) kernel[i] = (kernel[i] as number) * s;
      foldedBias[o] = (bias[o] as number) * s + (shift[o] as number);
    }
    const id = prefix.replaceAll("/", "_");
    this.initializers.push(floatInitializer(`${id}_kernel`, [outChannels, inChannels, k, k], kernel), floatInitializer(`${id}_bias`, [outChannels], foldedBias));
    // TensorFlow's "same" at stride 1 pads (k-1)/2 on every side for an odd kernel; "valid" pads nothing.
    const pad = options.padding === "same" ? (k - 1) / 2 : 0;
    const conv = this.node("Conv", `${id}_conv`, [input.name, `${id}_kernel`, `${id}_bias`], [
      intsAttribute("kernel_shape", [k, k]),
      intsAttribute("pads", [pad, pad, pad, pad]),
      intsAttribute("strides", [options.stride, options.stride]),
    ]);
    const size = Math.floor((input.size + 2 * pad - k) / options.stride) + 1;
    const name = options.relu ? this.node("Relu", `${id}_relu`, [conv]) : conv;
    return { name, channels: outChannels, size };
  }

  pool(op: "MaxPool" | "AveragePool", name: string, input: FeatureMap, kernel: number, stride: number): FeatureMap {
    const out = this.node(op, name, [input.name], [intsAttribute("kernel_shape", [kernel, kernel]), intsAttribute("strides", [stride, stride])]);
    return { name: out, channels: input.channels, size: Math.floor((input.size - kernel) / stride) + 1 };
  }

  /** Zero padding at the end of the channel, row and column axes (NCHW). */
  padEnd(name: string, input: FeatureMap, channels: number, rows: number): FeatureMap {
    this.initializers.push(int64Initializer(`${name}_pads`, [0, 0, 0, 0, 0, channels, rows, rows]));
    const out = this.node("Pad", name, [input.name, `${name}_pads`]);
    return { name: out, channels: input.channels + channels, size: input.size + rows };
  }

  block(name: string, kind: BlockKind, input: FeatureMap): FeatureMap {
    const first = this.conv(`${name}/conv1`, input, kind === "down" ? { stride: 2, padding: "valid", relu: true } : { stride: 1, padding: "same", relu: true });
    let main = this.conv(`${name}/conv2`, first, { stride: 1, padding: "same", relu: false });
    let shortcut = input;
    if (kind === "down") {
      shortcut = this.pool("AveragePool", `${name}_shortcut_pool`, input, 2, 2);
      const missingRows = shortcut.size - main.size;
      if (missingRows !== 0 && missingRows !== 1) {
        throw new Error(`block ${name}: its ${main.size}x${main.size} map cannot be padded to the shortcut's ${shortcut.size}x${shortcut.size} as face-api does`);
      }
      if (missingRows === 1) main = this.padEnd(`${name}_pad_map`, main, 0, 1);
      if (shortcut.channels < main.channels) shortcut = this.padEnd(`${name}_shortcut_pad`, shortcut, main.channels - shortcut.channels, 0);
    }
    if (shortcut.channels !== main.channels || shortcut.size !== main.size) {
      throw new Error(`block ${name}: the shortcut is ${shortcut.channels}x${shortcut.size}x${shortcut.size}, the block's output ${main.channels}x${main.size}x${main.size}`);
    }
    const sum = this.node("Add", `${name}_add`, [main.name, shortcut.name]);
    return { name: this.node("Relu", `${name}_out`, [sum]), channels: main.channels, size: main.size };
  }
}

/** The serialised ModelProto: input "rgb" [N, 150, 150, 3] (NHWC, 0..255), output "descriptor" [N, 128]. */
export function buildFaceRecognitionOnnx(weights: WeightMap, doc: string): Uint8Array {
  const graph = new GraphBuilder(weights);
  graph.initializers.push(floatInitializer("mean_rgb", [3], Float32Array.from(meanRgb)), floatInitializer("pixel_range", [], Float32Array.of(255)));
  const centred = graph.node("Sub", "centred", [faceNetInputName, "mean_rgb"]);
  const scaled = graph.node("Div", "scaled", [centred, "pixel_range"]);
  const nchw = graph.node("Transpose", "to_nchw", [scaled], [intsAttribute("perm", [0, 3, 1, 2])]);
  let map = graph.conv("conv32_down", { name: nchw, channels: 3, size: faceNetInputSize }, { stride: 2, padding: "valid", relu: true });
  map = graph.pool("MaxPool", "stem_pool", map, 3, 2);
  for (const block of blocks) map = graph.block(block.name, block.kind, map);
  const pooled = graph.node("GlobalAveragePool", "global_mean", [map.name]);
  const flat = graph.node("Flatten", "flatten", [pooled], [intAttribute("axis", 1)]);
  const fc = graph.weight("fc", 2);
  if (fc.shape[0] !== map.channels || fc.shape[1] !== faceNetDescriptorLength) {
    throw new Error(`face-api weight fc has shape [${fc.shape.join(", ")}], expected [${map.channels}, ${faceNetDescriptorLength}]`);
  }
  graph.initializers.push(floatInitializer("fc", fc.shape, fc.values));
  graph.nodes.push({ op_type: "MatMul", name: "fc", input: [flat, "fc"], output: [faceNetOutputName], attribute: [] });
  return serialiseModel({
    name: "face_recognition_net",
    doc,
    nodes: graph.nodes,
    initializers: graph.initializers,
    inputs: [tensorValueInfo(faceNetInputName, ["N", faceNetInputSize, faceNetInputSize, 3])],
    outputs: [tensorValueInfo(faceNetOutputName, ["N", faceNetDescriptorLength])],
  });
}

/**
 * The onnxruntime engine of the VGG16 backbone, by job:
 * - graph-parts.ts: input, pools, head and serialisation, shared by both graphs (the
 *   network-neutral parts, the ONNX schema and the session, are in src/model/onnx/);
 * - fp32-graph.ts: the float graph (Keras' arithmetic), cached per weights, exportable as .onnx;
 * - int8-graph.ts: the quantised graph; int8-calibration.ts measures its activation scales on the
 *   photos calibration-images.ts loads;
 * - engine.ts: the Vgg16Engine the backbone runs, putting those together.
 */

export { createOnnxVgg16Engine, onnxDefaultBatchSize, type Vgg16Precision } from "./engine.js";
export { exportOnnx } from "./fp32-graph.js";
export type { OnnxInputLayout } from "./graph-parts.js";

/**
 * The onnxruntime engine of the VGG16 backbone, by job:
 * - protobuf-schema.ts: the part of the ONNX file format the graphs write;
 * - graph-parts.ts: input, pools, head and serialisation, shared by both graphs;
 * - fp32-graph.ts: the float graph (Keras' arithmetic), cached per weights, exportable as .onnx;
 * - int8-graph.ts: the quantised graph; int8-calibration.ts measures its activation scales on the
 *   photos calibration-images.ts loads;
 * - session.ts and session-worker.ts: the onnxruntime session, in a worker thread;
 * - engine.ts: the Vgg16Engine the backbone runs, putting those together.
 */

export { createOnnxVgg16Engine, onnxDefaultBatchSize, type Vgg16Precision } from "./engine.js";
export { exportOnnx } from "./fp32-graph.js";
export type { OnnxInputLayout } from "./graph-parts.js";

import type { Prediction } from "../../model/predictor.js";
import type { ServedModel } from "../model-slot.js";
import type { InferRequest, RequestedOutput } from "./infer-request.js";
import { imageInput } from "./signature.js";

/**
 * The bodies of the Open Inference Protocol's successful answers, as inference_rest.md writes them:
 * $metadata_server_response, $metadata_model_response, $ready_model_response, $inference_response.
 */

/**
 * "Platform names use the format <project>_<format>". None of the names the spec lists fits: the
 * model is a faceops bundle (a TensorFlow.js head on a face backbone, with its crop rule and
 * open-set references), which only faceops runs. So the project is faceops and the format its
 * bundle; the backbone is told in `properties`.
 */
export const platform = "faceops_bundle";

export function serverMetadata(version: string) {
  return { name: "faceops", version, extensions: [] as string[] };
}

export function modelMetadata(model: ServedModel) {
  const labels = model.predictor.labels.length;
  return {
    name: model.name,
    versions: [model.version],
    platform,
    inputs: [{ name: imageInput.name, datatype: imageInput.datatype, shape: [-1] }],
    outputs: [
      { name: "scores", datatype: "FP32", shape: [-1, labels] },
      { name: "labels", datatype: "BYTES", shape: [-1] },
    ],
    properties: modelProperties(model),
  };
}

/**
 * The model's other facts, in the spec's `properties`: a map of string to string (the YAML's
 * metadata_model_response, the gRPC ModelMetadataResponse's map<string, string>). So every value
 * is text: numbers in decimal, the labels as a JSON array in a string, and a fact the model does
 * not have (no dataset commit, no open-set threshold) is left out rather than null.
 */
export function modelProperties(model: ServedModel): Record<string, string> {
  const { metadata, maxDistance } = model.predictor;
  const properties: Record<string, string> = {
    labels: JSON.stringify(metadata.labels),
    backbone: metadata.backbone.id,
    dataset_fingerprint: metadata.dataset.fingerprint,
    test_accuracy: String(metadata.metrics.accuracy),
    created_at: metadata.createdAt,
  };
  if (metadata.dataset.commit !== null) properties.dataset_commit = metadata.dataset.commit;
  if (maxDistance !== null) properties.unknown_max_distance = String(maxDistance);
  return properties;
}

export function modelReady(name: string, ready: boolean) {
  return { name, ready };
}

export function inferResponse(model: ServedModel, request: InferRequest, predictions: readonly Prediction[]) {
  return {
    model_name: model.name,
    model_version: model.version,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs.map((output) => outputTensor(output, model.predictor.labels, predictions)),
  };
}

function outputTensor(output: RequestedOutput, labels: readonly string[], predictions: readonly Prediction[]) {
  const photos = predictions.length;
  if (output.name === "labels") return { name: "labels", shape: [photos], datatype: "BYTES", data: predictions.map((prediction) => prediction.label) };
  if (output.classification === null) {
    return { name: "scores", shape: [photos, labels.length], datatype: "FP32", data: predictions.flatMap((prediction) => Array.from(prediction.probabilities)) };
  }
  // Triton's classification extension: the k best classes per photo, best first, as "<score>:<index>:<label>".
  const k = Math.min(output.classification, labels.length);
  const data = predictions.flatMap((prediction) =>
    Array.from(prediction.probabilities, (score, index) => ({ score, index }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, k)
      .map(({ score, index }) => `${score}:${index}:${labels[index] ?? ""}`),
  );
  return { name: "scores", shape: [photos, k], datatype: "BYTES", data };
}

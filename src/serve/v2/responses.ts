import type { PhotoPrediction, Prediction } from "../../model/predictor.js";
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
      { name: "faces_found", datatype: "INT32", shape: [-1] },
      { name: "boxes", datatype: "FP32", shape: [-1, 4] },
      { name: "face_photo", datatype: "INT32", shape: [-1] },
      { name: "face_labels", datatype: "BYTES", shape: [-1] },
      { name: "face_scores", datatype: "FP32", shape: [-1, labels] },
      { name: "confident", datatype: "BOOL", shape: [-1] },
      { name: "face_confident", datatype: "BOOL", shape: [-1] },
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
  const { metadata, maxDistance, confidentDistance } = model.predictor;
  const properties: Record<string, string> = {
    labels: JSON.stringify(metadata.labels),
    backbone: metadata.backbone.id,
    dataset_fingerprint: metadata.dataset.fingerprint,
    test_accuracy: String(metadata.metrics.accuracy),
    created_at: metadata.createdAt,
  };
  if (metadata.dataset.commit !== null) properties.dataset_commit = metadata.dataset.commit;
  if (maxDistance !== null) properties.unknown_max_distance = String(maxDistance);
  if (confidentDistance !== null) properties.confident_max_distance = String(confidentDistance);
  const openSet = metadata.openSet;
  if (openSet?.calibration) properties.calibration_stranger_rejection = String(openSet.calibration.strangerRejection);
  if (openSet?.test?.strangerRejection !== undefined && openSet.test.strangerRejection !== null) properties.test_stranger_rejection = String(openSet.test.strangerRejection);
  if (openSet?.test?.knownRejection !== undefined && openSet.test.knownRejection !== null) properties.test_known_rejection = String(openSet.test.knownRejection);
  return properties;
}

export function modelReady(name: string, ready: boolean) {
  return { name, ready };
}

export function inferResponse(model: ServedModel, request: InferRequest, predictions: readonly PhotoPrediction[]) {
  return {
    model_name: model.name,
    model_version: model.version,
    ...(request.id !== undefined ? { id: request.id } : {}),
    outputs: request.outputs.map((output) => outputTensor(output, model.predictor.labels, predictions)),
  };
}

function outputTensor(output: RequestedOutput, labels: readonly string[], predictions: readonly PhotoPrediction[]) {
  const photos = predictions.length;
  const faces = predictions.flatMap((prediction, photo) => prediction.faces.map((face) => ({ face, photo })));
  switch (output.name) {
    case "labels":
      return { name: "labels", shape: [photos], datatype: "BYTES", data: predictions.map((prediction) => prediction.label) };
    case "scores":
      return scoresTensor("scores", output.classification, labels, predictions);
    case "faces_found":
      return { name: "faces_found", shape: [photos], datatype: "INT32", data: predictions.map((prediction) => prediction.facesFound ?? -1) };
    case "boxes":
      return { name: "boxes", shape: [faces.length, 4], datatype: "FP32", data: faces.flatMap(({ face }) => [face.box.x, face.box.y, face.box.width, face.box.height]) };
    case "face_photo":
      return { name: "face_photo", shape: [faces.length], datatype: "INT32", data: faces.map(({ photo }) => photo) };
    case "face_labels":
      return { name: "face_labels", shape: [faces.length], datatype: "BYTES", data: faces.map(({ face }) => face.label) };
    case "face_scores":
      return scoresTensor("face_scores", output.classification, labels, faces.map(({ face }) => face));
    case "confident":
      return { name: "confident", shape: [photos], datatype: "BOOL", data: predictions.map((prediction) => prediction.confident) };
    case "face_confident":
      return { name: "face_confident", shape: [faces.length], datatype: "BOOL", data: faces.map(({ face }) => face.confident) };
  }
}

/**
 * A row of label probabilities per answer (zeros for an answer without scores: a photo with no
 * face, a face too small to name), or with `classification` Triton's k best as "<score>:<index>:<label>".
 */
function scoresTensor(name: string, classification: number | null, labels: readonly string[], answers: readonly Prediction[]) {
  const rowOf = (answer: Prediction) => (answer.probabilities.length === labels.length ? answer.probabilities : new Float32Array(labels.length));
  if (classification === null) {
    return { name, shape: [answers.length, labels.length], datatype: "FP32", data: answers.flatMap((answer) => Array.from(rowOf(answer))) };
  }
  const k = Math.min(classification, labels.length);
  const data = answers.flatMap((answer) =>
    Array.from(rowOf(answer), (score, index) => ({ score, index }))
      .sort((a, b) => b.score - a.score || a.index - b.index)
      .slice(0, k)
      .map(({ score, index }) => `${score}:${index}:${labels[index] ?? ""}`),
  );
  return { name, shape: [answers.length, k], datatype: "BYTES", data };
}

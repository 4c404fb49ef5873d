import { rankLabels } from "../model/evaluate.js";
import type { PreparedFaces } from "../model/face-path/prepare.js";
import { publicFace, unknownLabel, type PhotoPrediction, type Scored } from "../model/predictor.js";
import type { FaceCapture } from "../review/capture.js";
import type { CaptureReason, NewFace } from "../review/inbox.js";
import { encodeJpeg } from "../vision/preprocess.js";
import type { ServedModel } from "./model-slot.js";

/**
 * Which answered faces the service keeps for review (serve.capture): a face answered "unknown", or
 * named with a lead of less than `lowMargin` over the second label. It keeps the crop the model saw
 * (and the photo, only with keepPhoto), the answer and the face's embedding; everything else about
 * writing, bounding and failing is FaceCapture's, off the request path.
 */

export interface ServeCaptureSettings {
  lowMargin: number;
  keepPhoto: boolean;
}

export class ServeCapture {
  constructor(
    private readonly capture: FaceCapture,
    readonly settings: ServeCaptureSettings,
  ) {}

  /** Whether the photo's bytes must be kept past decoding (they are otherwise handed to a worker). */
  get keepsPhotos(): boolean {
    return this.settings.keepPhoto;
  }

  /** Offers the photo's faces worth a review; returns at once. */
  observe(model: ServedModel, prepared: PreparedFaces, scored: readonly Scored[], answer: PhotoPrediction, photo: Buffer | null): void {
    let next = 0;
    prepared.faces.forEach((face, index) => {
      if (!face.image) return;
      const scores = scored[next++];
      const answered = answer.faces[index];
      if (!scores || !answered) return;
      const margin = leadOverSecond(scores.probabilities);
      const reason: CaptureReason | null = answered.label === unknownLabel ? "unknown" : margin !== null && margin < this.settings.lowMargin ? "low_margin" : null;
      if (!reason) return;
      const record: NewFace = {
        modelVersion: model.version,
        reason,
        answer: answered.label,
        score: answered.score,
        margin,
        distance: scores.distance,
        nearest: scores.nearestLabel !== null && scores.distance !== null ? { label: scores.nearestLabel, distance: scores.distance } : null,
        // In whole pixels, as the service answered it.
        box: publicFace(answered).box,
        backbone: model.predictor.metadata.backbone.fingerprint,
        embedding: scores.features,
      };
      const crop = face.image;
      this.capture.offer({ face: record, crop: () => encodeJpeg(crop, 90), photo: photo && this.settings.keepPhoto ? () => Promise.resolve(photo) : null });
    });
  }
}

/** The best label's probability minus the second's; null with a single label. */
export function leadOverSecond(probabilities: Float32Array): number | null {
  const [first, second] = rankLabels(probabilities);
  if (first === undefined || second === undefined) return null;
  return (probabilities[first] as number) - (probabilities[second] as number);
}

/**
 * The served model's tensors as the Open Inference Protocol names them: one BYTES input of photos,
 * base64-encoded, one photo per element. Per photo, its main face (the largest big enough to name,
 * as /v1's top level): FP32 `scores` (a row per photo, a column per label in the model's label
 * order; zeros for a photo with no face) and BYTES `labels` ("unknown" for strangers, "no_face"), and
 * INT32 `faces_found` (every face found, -1 when the model does not detect faces). Per face, every
 * face answered in all the photos, largest first within a photo: FP32 `boxes` [faces, 4] (x, y,
 * width, height in pixels of the upright photo), INT32 `face_photo` (the index of its photo in the
 * input), BYTES `face_labels` and FP32 `face_scores` [faces, labels] (zeros for a face too small to
 * name, labelled "too_small"). The two-level answer, BOOL `confident` per photo and `face_confident`
 * per face: true when a person is named near enough to act on, false when the name is not sure and
 * for "unknown", "no_face" and "too_small". The metadata endpoint describes them and the infer
 * endpoint accepts and answers exactly these.
 */

export const imageInput = { name: "image", datatype: "BYTES" } as const;

/** In the order an infer response lists them when the request names none. */
export const outputNames = ["scores", "labels", "faces_found", "boxes", "face_photo", "face_labels", "face_scores", "confident", "face_confident"] as const;
export type OutputName = (typeof outputNames)[number];

export const isOutputName = (name: string): name is OutputName => (outputNames as readonly string[]).includes(name);

/**
 * The one output parameter: `classification: k` on "scores" (or "face_scores") answers each photo's
 * (face's) k best labels as BYTES "<score>:<index>:<label>", Triton's classification extension, so a
 * client reads names and scores without knowing the label order.
 */
export const classificationParameter = "classification";
export const classifiedOutputs: readonly OutputName[] = ["scores", "face_scores"];

/** The request's own parameters (`parameters` of the infer request), beside the standard ones. */
export const faceParameters = ["maxFaces", "minFaceSize"] as const;

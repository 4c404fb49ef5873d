/**
 * The served model's tensors as the Open Inference Protocol names them: one BYTES input of photos,
 * base64-encoded, one photo per element; FP32 scores (a row per photo, a column per label in the
 * model's label order) and BYTES labels (the answer per photo, "unknown" for strangers). The
 * metadata endpoint describes them and the infer endpoint accepts and answers exactly these.
 */

export const imageInput = { name: "image", datatype: "BYTES" } as const;

/** In the order an infer response lists them when the request names none. */
export const outputNames = ["scores", "labels"] as const;
export type OutputName = (typeof outputNames)[number];

export const isOutputName = (name: string): name is OutputName => (outputNames as readonly string[]).includes(name);

/**
 * The one output parameter: `classification: k` on "scores" answers each photo's k best labels as
 * BYTES "<score>:<index>:<label>", Triton's classification extension, so a client reads names and
 * scores without knowing the label order.
 */
export const classificationParameter = "classification";

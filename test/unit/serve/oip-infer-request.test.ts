import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HttpError } from "../../../src/http/errors.js";
import { parseInferRequest } from "../../../src/serve/v2/infer-request.js";

/** The infer request's checks as a table: what is accepted, and what is refused with which status and message. */

const limits = { maxFiles: 4, maxBytes: 16 };
const a = Buffer.from("photo-a").toString("base64");
const b = Buffer.from("photo-b").toString("base64");
const image = (data: unknown, shape: unknown = [Array.isArray(data) ? data.length : 1]) => ({ name: "image", shape, datatype: "BYTES", data });

/** A value nested `depth` arrays deep around `inner`, built without recursion. */
function nested(depth: number, inner: unknown): unknown {
  let value = inner;
  for (let level = 0; level < depth; level++) value = [value];
  return value;
}

describe("parseInferRequest", () => {
  test("accepts flat and nested data, scalars and the spec's optional fields", async () => {
    const cases: Array<[string, unknown, string[]]> = [
      ["flat", { inputs: [image([a, b])] }, ["photo-a", "photo-b"]],
      ["nested [2,1]", { inputs: [image([[a], [b]], [2, 1])] }, ["photo-a", "photo-b"]],
      ["nested [1,2]", { inputs: [image([[a, b]], [1, 2])] }, ["photo-a", "photo-b"]],
      ["flat under a [2,1] shape", { inputs: [image([a, b], [2, 1])] }, ["photo-a", "photo-b"]],
      ["a scalar tensor", { inputs: [image([a], [])] }, ["photo-a"]],
      ["spec-shaped parameters everywhere", { id: "x", parameters: { s: "t", n: 1, f: false }, inputs: [{ ...image([a]), parameters: { p: 2 } }], outputs: [{ name: "labels", parameters: {} }] }, ["photo-a"]],
    ];
    for (const [name, body, photos] of cases) {
      assert.deepEqual((await parseInferRequest(body, limits)).photos.map((photo) => photo.toString()), photos, name);
    }
  });

  test("id is echoed when a string; outputs default to all, in the model's order", async () => {
    assert.equal((await parseInferRequest({ id: "r-1", inputs: [image([a])] }, limits)).id, "r-1");
    assert.equal((await parseInferRequest({ inputs: [image([a])] }, limits)).id, undefined);
    assert.deepEqual((await parseInferRequest({ inputs: [image([a])] }, limits)).faceLimits, { maxFaces: 10, minFaceSize: 20 });
    assert.deepEqual((await parseInferRequest({ inputs: [image([a])], parameters: { maxFaces: 3, minFaceSize: "0" } }, limits)).faceLimits, { maxFaces: 3, minFaceSize: 0 });
    assert.deepEqual((await parseInferRequest({ inputs: [image([a])] }, limits)).outputs, ["scores", "labels", "faces_found", "boxes", "face_photo", "face_labels", "face_scores", "confident", "face_confident"].map((name) => ({ name, classification: null })));
    assert.deepEqual((await parseInferRequest({ inputs: [image([a])], outputs: [] }, limits)).outputs.map((output) => output.name), ["scores", "labels", "faces_found", "boxes", "face_photo", "face_labels", "face_scores", "confident", "face_confident"]);
    assert.deepEqual((await parseInferRequest({ inputs: [image([a])], outputs: [{ name: "labels" }, { name: "scores", parameters: { classification: 2 } }] }, limits)).outputs, [
      { name: "labels", classification: null },
      { name: "scores", classification: 2 },
    ]);
  });

  test("refuses what the spec or the model does not allow, naming the field", async () => {
    const cases: Array<[string, unknown, number, RegExp]> = [
      ["not an object", [1], 400, /^the request body: expected a JSON object, received an array$/],
      ["no inputs", {}, 400, /^inputs: expected a non-empty array of input tensors, received nothing$/],
      ["numeric id", { id: 7, inputs: [image([a])] }, 400, /^id: expected a string, received a number$/],
      ["null id", { id: null, inputs: [image([a])] }, 400, /^id: expected a string, received null$/],
      ["a deeply nested id", { id: nested(100_000, 1), inputs: [image([a])] }, 400, /^id: expected a string, received an array$/],
      ["an array parameter", { parameters: { topk: [1] }, inputs: [image([a])] }, 400, /^parameters\.topk: a parameter's value is a string, a number or a boolean; received an array$/],
      ["a deeply nested parameter", { parameters: { topk: nested(100_000, 1) }, inputs: [image([a])] }, 400, /^parameters\.topk: .*received an array$/],
      ["an input's null parameter", { inputs: [{ ...image([a]), parameters: { p: null } }] }, 400, /^inputs\[0\]\.parameters\.p: .*received null$/],
      ["no image input", { inputs: [{ ...image([a]), name: "photo" }] }, 400, /^inputs: no input named "image"/],
      ["an extra input", { inputs: [image([a]), { ...image([a]), name: "mask" }] }, 400, /^inputs\[1\]\.name: the model has no input named "mask"/],
      ["image twice", { inputs: [image([a]), image([b])] }, 400, /^inputs\[1\]\.name: the input "image" is given twice \(also inputs\[0\]\)$/],
      ["wrong datatype", { inputs: [{ ...image([a]), datatype: "FP32" }] }, 400, /^inputs\[0\]\.datatype: expected "BYTES", received "FP32"$/],
      ["shape not an array", { inputs: [image([a], 1)] }, 400, /^inputs\[0\]\.shape: expected an array of non-negative integers, received a number$/],
      ["a negative dimension", { inputs: [image([a], [-1])] }, 400, /^inputs\[0\]\.shape\[0\]: expected a non-negative integer, received -1$/],
      ["a fractional dimension", { inputs: [image([a], [1.5])] }, 400, /^inputs\[0\]\.shape\[0\]: expected a non-negative integer, received 1\.5$/],
      ["an empty tensor", { inputs: [image([], [0])] }, 400, /^inputs\[0\]\.shape: \[0\] holds no photo/],
      ["too many photos by the shape", { inputs: [image([a], [1e15, 1e15])] }, 413, /^inputs\[0\]: at most 4 photos per request/],
      ["shape and data disagree", { inputs: [image([a, b], [3])] }, 400, /^inputs\[0\]\.shape: \[3\] holds 3 elements, but inputs\[0\]\.data has 2$/],
      ["nested data shorter than its dimension", { inputs: [image([[a], [b]], [2, 2])] }, 400, /^inputs\[0\]\.data\[0\]: expected an array of 2 elements, as dimension 1 of the shape \[2,2\] says; received an array of 1$/],
      ["nested data under a flat shape", { inputs: [image([[a], [b]], [2])] }, 400, /^inputs\[0\]\.data\[0\]: expected a base64 string, received an array$/],
      ["ragged nesting", { inputs: [image([[a], b], [2, 1])] }, 400, /^inputs\[0\]\.data\[1\]: expected an array of 1 elements/],
      ["data not an array", { inputs: [image(a, [1])] }, 400, /^inputs\[0\]\.data: expected an array, received a string$/],
      ["not base64", { inputs: [image(["***"])] }, 400, /^inputs\[0\]\.data\[0\]: expected a base64 string, received text that is not base64$/],
      ["a photo over the limit", { inputs: [image([Buffer.alloc(17).toString("base64")])] }, 413, /^inputs\[0\]\.data\[0\]: the photo is larger than 16 bytes$/],
      ["outputs not an array", { inputs: [image([a])], outputs: { name: "labels" } }, 400, /^outputs: expected an array of requested outputs, received an object$/],
      ["an unknown output", { inputs: [image([a])], outputs: [{ name: "embeddings" }] }, 400, /^outputs\[0\]\.name: the model has no output named "embeddings"; its outputs are "scores", "labels", "faces_found", "boxes", "face_photo", "face_labels", "face_scores", "confident", "face_confident"$/],
      ["a long unknown output name is cut short", { inputs: [image([a])], outputs: [{ name: "x".repeat(10_000) }] }, 400, /^outputs\[0\]\.name: the model has no output named "x{64}…";/],
      ["an output twice", { inputs: [image([a])], outputs: [{ name: "scores" }, { name: "scores" }] }, 400, /^outputs\[1\]\.name: the output "scores" is asked for twice$/],
      ["an unknown output parameter", { inputs: [image([a])], outputs: [{ name: "scores", parameters: { binary_data: true } }] }, 400, /^outputs\[0\]\.parameters\.binary_data: unknown output parameter/],
      ["classifying the labels", { inputs: [image([a])], outputs: [{ name: "labels", parameters: { classification: 1 } }] }, 400, /^outputs\[0\]\.parameters\.classification: only the "scores" and "face_scores" outputs can be classified$/],
      ["maxFaces out of range", { inputs: [image([a])], parameters: { maxFaces: 0 } }, 400, /^parameters\.maxFaces must be an integer from 1 to 100, received "0"$/],
      ["minFaceSize not a number", { inputs: [image([a])], parameters: { minFaceSize: "big" } }, 400, /^parameters\.minFaceSize must be an integer from 0 to 10000, received "big"$/],
      ["classification zero", { inputs: [image([a])], outputs: [{ name: "scores", parameters: { classification: 0 } }] }, 400, /^outputs\[0\]\.parameters\.classification: expected a positive integer, received 0$/],
      ["classification as text", { inputs: [image([a])], outputs: [{ name: "scores", parameters: { classification: "2" } }] }, 400, /^outputs\[0\]\.parameters\.classification: expected a positive integer, received a string$/],
    ];
    for (const [name, body, status, message] of cases) {
      await assert.rejects(
        parseInferRequest(body, limits),
        (error: unknown) => {
          assert.ok(error instanceof HttpError, `${name}: ${String(error)}`);
          assert.equal(error.status, status, `${name}: ${error.message}`);
          assert.match(error.message, message, name);
          return true;
        },
        name,
      );
    }
  });

  test("photos are decoded one at a time, giving the event loop a turn between them", async () => {
    // Each turn of the loop between photos is seen by a check scheduled with setImmediate; decoding
    // all photos in one synchronous piece would let none run before the answer.
    let turns = 0;
    const count = () => {
      turns++;
      if (turns < 100) setImmediate(count);
    };
    setImmediate(count);
    const parsed = await parseInferRequest({ inputs: [image([a, b, a, b])] }, limits);
    assert.equal(parsed.photos.length, 4);
    assert.ok(turns >= 3, `the loop had ${turns} turns while 4 photos were decoded`);
  });

  test("a shape of many dimensions and data nested as deep are walked without recursion", async () => {
    const depth = 100_000;
    const { photos } = await parseInferRequest({ inputs: [image(nested(depth, a), new Array<number>(depth).fill(1))] }, limits);
    assert.deepEqual(photos.map((photo) => photo.toString()), ["photo-a"]);
  });
});

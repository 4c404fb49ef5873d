import { setImmediate } from "node:timers/promises";
import { HttpError, badRequest } from "../../http/errors.js";
import { parseFaceLimits, type FaceLimits } from "../predict.js";
import { classificationParameter, classifiedOutputs, imageInput, isOutputName, outputNames, type OutputName } from "./signature.js";

/**
 * An Open Inference Protocol infer request, checked field by field against inference_rest.md
 * ($inference_request, $request_input, $request_output, $parameters, Tensor Data) and against the
 * model's signature. Every error is a 4xx naming the field (`inputs[0].data[1]`) and what was
 * wrong with it, and no message repeats more than a short piece of what the client sent. The whole
 * structure is checked first; then the photos are decoded from base64 one at a time, with the
 * event loop given a turn between them: checking and decoding 16 photos of 10 MB holds the thread
 * for ~0.3 s in one piece on an idle machine (~0.8 s on a loaded one), ~20 ms per photo this way.
 */

export interface RequestedOutput {
  name: OutputName;
  /** How many best labels per photo `classification` asks for; null for the tensor itself. */
  classification: number | null;
}

export interface InferRequest {
  /** Echoed in the response, as the spec requires. */
  id: string | undefined;
  photos: Buffer[];
  /** The outputs to answer, in this order: those the request names, or all of them. */
  outputs: RequestedOutput[];
  /** `parameters.maxFaces` and `parameters.minFaceSize`, as /v1/predict's query takes them. */
  faceLimits: FaceLimits;
}

export interface InferLimits {
  maxFiles: number;
  maxBytes: number;
}

export async function parseInferRequest(body: unknown, limits: InferLimits): Promise<InferRequest> {
  const request = asObject(body, "the request body");
  const id = request.id;
  if (id !== undefined && typeof id !== "string") throw badRequest("bad_request", `id: expected a string, received ${kind(id)}`);
  const parameters = request.parameters === undefined ? {} : checkParameters(request.parameters, "parameters");
  const faceLimits = parseFaceLimits(parameters, "parameters.");
  const encoded = encodedPhotosOf(request.inputs, limits);
  const outputs = requestedOutputs(request.outputs);
  const photos: Buffer[] = [];
  for (const [index, { value, path }] of encoded.entries()) {
    if (index > 0) await setImmediate();
    photos.push(photoOf(value, path, limits.maxBytes));
  }
  return { id, photos, outputs, faceLimits };
}

function encodedPhotosOf(inputs: unknown, limits: InferLimits): Array<{ value: unknown; path: string }> {
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest("bad_request", `inputs: expected a non-empty array of input tensors, received ${kind(inputs)}`);
  const named = inputs.map((entry: unknown, index) => {
    const path = `inputs[${index}]`;
    const input = asObject(entry, path);
    if (typeof input.name !== "string") throw badRequest("bad_request", `${path}.name: expected a string, received ${kind(input.name)}`);
    return { input, name: input.name, path };
  });
  const images = named.filter((entry) => entry.name === imageInput.name);
  const image = images[0];
  if (!image) throw badRequest("bad_request", `inputs: no input named "${imageInput.name}", the model's one input (${imageInput.datatype}, base64-encoded photos)`);
  if (images[1]) throw badRequest("bad_request", `${images[1].path}.name: the input "${imageInput.name}" is given twice (also ${image.path})`);
  const other = named.find((entry) => entry.name !== imageInput.name);
  if (other) throw badRequest("bad_request", `${other.path}.name: the model has no input named ${quote(other.name)}; its one input is "${imageInput.name}"`);
  const { input, path } = image;
  if (input.datatype !== imageInput.datatype) throw badRequest("bad_request", `${path}.datatype: expected "${imageInput.datatype}", received ${typeof input.datatype === "string" ? quote(input.datatype) : kind(input.datatype)}`);
  if (input.parameters !== undefined) checkParameters(input.parameters, `${path}.parameters`);
  const shape = shapeOf(input.shape, `${path}.shape`);
  const count = elementCount(shape, path, limits.maxFiles);
  const elements = tensorElements(input.data, shape, count, `${path}.data`);
  // Every element is checked to be text before any is decoded, and refused from its length alone
  // when its photo cannot fit, so a request the limits refuse costs no decoding.
  for (const { value, path: where } of elements) {
    if (typeof value !== "string") throw notBase64(value, where);
    if (Math.floor((value.length * 3) / 4) - 2 > limits.maxBytes) throw photoTooLarge(where, limits.maxBytes);
  }
  return elements;
}

/** Each dimension "must be an integer representable as an unsigned 64-bit integer value". */
function shapeOf(shape: unknown, path: string): number[] {
  if (!Array.isArray(shape)) throw badRequest("bad_request", `${path}: expected an array of non-negative integers, received ${kind(shape)}`);
  shape.forEach((dimension: unknown, index) => {
    if (typeof dimension !== "number" || !Number.isSafeInteger(dimension) || dimension < 0) {
      throw badRequest("bad_request", `${path}[${index}]: expected a non-negative integer, received ${typeof dimension === "number" ? String(dimension) : kind(dimension)}`);
    }
  });
  return shape as number[];
}

/** The photos the shape holds (one photo per element), refused before any data is looked at when too many. */
function elementCount(shape: number[], path: string, maxFiles: number): number {
  if (shape.includes(0)) throw badRequest("bad_request", `${path}.shape: ${showShape(shape)} holds no photo; send at least one`);
  let count = 1;
  for (const dimension of shape) {
    count *= dimension;
    if (count > maxFiles) throw new HttpError(413, "too_many_files", `${path}: at most ${maxFiles} photos per request, and the shape ${showShape(shape)} holds more`);
  }
  return count;
}

/**
 * The tensor's elements in row-major order, each with its path. Tensor Data: elements "may be
 * presented in their natural multi-dimensional representation, or as a flattened one-dimensional
 * representation"; either way there must be exactly as many as the shape says.
 */
function tensorElements(data: unknown, shape: number[], count: number, path: string): Array<{ value: unknown; path: string }> {
  if (!Array.isArray(data)) throw badRequest("bad_request", `${path}: expected an array, received ${kind(data)}`);
  if (!data.some((element) => Array.isArray(element))) {
    if (data.length !== count) throw badRequest("bad_request", `${path.replace(/\.data$/, ".shape")}: ${showShape(shape)} holds ${count} elements, but ${path} has ${data.length}`);
    return data.map((value: unknown, index) => ({ value, path: `${path}[${index}]` }));
  }
  // Nested: one level per dimension, each exactly as long as its dimension. Walked level by level
  // (no recursion), so a deep shape cannot exhaust the stack.
  let level: Array<{ value: unknown; path: string }> = [{ value: data, path }];
  shape.forEach((dimension, depth) => {
    level = level.flatMap((node) => {
      if (!Array.isArray(node.value) || node.value.length !== dimension) {
        const received = Array.isArray(node.value) ? `an array of ${node.value.length}` : kind(node.value);
        throw badRequest("bad_request", `${node.path}: expected an array of ${dimension} elements, as dimension ${depth} of the shape ${showShape(shape)} says; received ${received}`);
      }
      return node.value.map((value: unknown, index) => ({ value, path: `${node.path}[${index}]` }));
    });
  });
  return level;
}

const notBase64 = (value: unknown, path: string) =>
  badRequest("bad_request", `${path}: expected a base64 string, received ${typeof value === "string" ? "text that is not base64" : kind(value)}`);
const photoTooLarge = (path: string, maxBytes: number) => new HttpError(413, "payload_too_large", `${path}: the photo is larger than ${maxBytes} bytes`);

function photoOf(value: unknown, path: string, maxBytes: number): Buffer {
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw notBase64(value, path);
  const bytes = Buffer.from(value, "base64");
  if (bytes.length > maxBytes) throw photoTooLarge(path, maxBytes);
  return bytes;
}

/** "outputs": optional; "if not specified all outputs produced by the model will be returned". */
function requestedOutputs(outputs: unknown): RequestedOutput[] {
  if (outputs === undefined || (Array.isArray(outputs) && outputs.length === 0)) return outputNames.map((name) => ({ name, classification: null }));
  if (!Array.isArray(outputs)) throw badRequest("bad_request", `outputs: expected an array of requested outputs, received ${kind(outputs)}`);
  const seen = new Set<string>();
  return outputs.map((entry: unknown, index) => {
    const path = `outputs[${index}]`;
    const output = asObject(entry, path);
    const name = output.name;
    if (typeof name !== "string") throw badRequest("bad_request", `${path}.name: expected a string, received ${kind(name)}`);
    if (!isOutputName(name)) throw badRequest("bad_request", `${path}.name: the model has no output named ${quote(name)}; its outputs are ${outputNames.map((known) => `"${known}"`).join(", ")}`);
    if (seen.has(name)) throw badRequest("bad_request", `${path}.name: the output "${name}" is asked for twice`);
    seen.add(name);
    let classification: number | null = null;
    if (output.parameters !== undefined) {
      const parameters = checkParameters(output.parameters, `${path}.parameters`);
      for (const [key, value] of Object.entries(parameters)) {
        const where = `${path}.parameters.${key}`;
        if (key !== classificationParameter) throw badRequest("bad_request", `${where}: unknown output parameter; the one output parameter is "${classificationParameter}"`);
        if (!classifiedOutputs.includes(name)) throw badRequest("bad_request", `${where}: only the ${classifiedOutputs.map((known) => `"${known}"`).join(" and ")} outputs can be classified`);
        if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) throw badRequest("bad_request", `${where}: expected a positive integer, received ${typeof value === "number" ? String(value) : kind(value)}`);
        classification = value;
      }
    }
    return { name, classification };
  });
}

/** $parameters: "name"/"value" pairs whose value is a $string, $number or $boolean. */
function checkParameters(parameters: unknown, path: string): Record<string, unknown> {
  const object = asObject(parameters, path);
  for (const [key, value] of Object.entries(object)) {
    if (typeof value !== "string" && typeof value !== "number" && typeof value !== "boolean") {
      throw badRequest("bad_request", `${path}.${key}: a parameter's value is a string, a number or a boolean; received ${kind(value)}`);
    }
  }
  return object;
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw badRequest("bad_request", `${path}: expected a JSON object, received ${kind(value)}`);
  return value as Record<string, unknown>;
}

/** What a JSON value is, in words, without repeating it: a client's value can be large or deep. */
function kind(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `a ${typeof value}`;
}

/** A client's text in a message, cut short. */
function quote(text: string): string {
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}…` : text);
}

function showShape(shape: number[]): string {
  return shape.length > 8 ? `[${shape.slice(0, 8).join(",")},…] (${shape.length} dimensions)` : `[${shape.join(",")}]`;
}

import type { InferenceSession } from "onnxruntime-node";

/**
 * An onnxruntime session (VGG16's, the face embedding's) runs in its own thread. onnxruntime-node runs
 * inference synchronously on the calling thread (its `run` only defers the call with setImmediate),
 * so on the main thread one batch would block the event loop for about a second: no health check,
 * no new connection and no decoding of the next batch meanwhile.
 *
 * The worker's code is plain JavaScript run with `eval`, so that it loads the same way from the
 * TypeScript sources (tests, benchmarks) and from the build, and it requires onnxruntime-node by
 * the absolute path the main thread resolved. Protocol: workerData is OnnxWorkerData; the worker
 * answers { ready: true } or { ready: false, error }, then each OnnxRunRequest gets { id, output,
 * type, dims } or { id, error }.
 */

export interface OnnxWorkerData {
  /** Absolute path of onnxruntime-node's entry point. */
  runtimePath: string;
  model: ArrayBuffer;
  options: InferenceSession.SessionOptions;
  inputName: string;
  outputName: string;
}

export interface OnnxRunRequest {
  id: number;
  input: Float32Array;
  dims: number[];
}

export type OnnxWorkerMessage =
  | { ready: true }
  | { ready: false; error: string }
  | { id: number; output: Float32Array; type: string; dims: readonly number[] }
  | { id: number; error: string };

export const onnxWorkerSource = `
"use strict";
const { parentPort, workerData } = require("node:worker_threads");
const ort = require(workerData.runtimePath);
ort.InferenceSession.create(new Uint8Array(workerData.model), workerData.options).then(
  (session) => {
    parentPort.postMessage({ ready: true });
    parentPort.on("message", async (request) => {
      try {
        const results = await session.run({ [workerData.inputName]: new ort.Tensor("float32", request.input, request.dims) });
        const output = results[workerData.outputName];
        if (!output || !(output.data instanceof Float32Array)) {
          parentPort.postMessage({ id: request.id, error: "onnxruntime returned " + (output ? output.type : "no output") });
          return;
        }
        parentPort.postMessage({ id: request.id, output: output.data, type: output.type, dims: output.dims }, [output.data.buffer]);
      } catch (error) {
        parentPort.postMessage({ id: request.id, error: String(error && error.message ? error.message : error) });
      }
    });
  },
  (error) => parentPort.postMessage({ ready: false, error: String(error && error.message ? error.message : error) }),
);
`;

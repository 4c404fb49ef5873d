import { createRequire } from "node:module";
import { Worker } from "node:worker_threads";
import type { InferenceSession } from "onnxruntime-node";
import { onnxWorkerSource, type OnnxRunRequest, type OnnxWorkerData, type OnnxWorkerMessage } from "./session-worker.js";

/** Which graph a session runs: its one input and one output, and a name for error messages. */
export interface OnnxGraphIo {
  inputName: string;
  outputName: string;
  /** e.g. "VGG16": says in errors which graph failed. */
  graph: string;
}

/** The session in a worker thread (session-worker.ts explains why). Runs are answered in order. */
export class OnnxSessionThread {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (output: { data: Float32Array; type: string; dims: readonly number[] }) => void; reject: (error: Error) => void }>();
  private failure: Error | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly io: OnnxGraphIo,
  ) {
    worker.on("message", (message: OnnxWorkerMessage) => {
      if (!("id" in message)) return;
      const pending = this.waiting.get(message.id);
      this.waiting.delete(message.id);
      if ("error" in message) pending?.reject(new Error(`onnxruntime failed: ${message.error}`));
      else pending?.resolve({ data: message.output, type: message.type, dims: message.dims });
    });
    const fail = (error: Error) => {
      this.failure = error;
      for (const pending of this.waiting.values()) pending.reject(error);
      this.waiting.clear();
    };
    worker.on("error", (error) => fail(new Error(`the onnxruntime thread failed: ${error.message}`, { cause: error })));
    worker.on("exit", (code) => fail(new Error(`the onnxruntime thread exited (code ${code})`)));
  }

  static async start(model: Uint8Array, options: InferenceSession.SessionOptions, io: OnnxGraphIo): Promise<OnnxSessionThread> {
    // A copy of the graph goes to the worker: the original stays cached for the next session.
    // (protobufjs hands out a Buffer, whose slice() would share memory rather than copy it.)
    const copy = new Uint8Array(model.byteLength);
    copy.set(model);
    const data: OnnxWorkerData = { runtimePath: createRequire(import.meta.url).resolve("onnxruntime-node"), model: copy.buffer, options, inputName: io.inputName, outputName: io.outputName };
    const worker = new Worker(onnxWorkerSource, { eval: true, workerData: data, transferList: [data.model] });
    const ready = await new Promise<OnnxWorkerMessage>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
      worker.once("exit", (code) => reject(new Error(`the onnxruntime thread exited (code ${code}) before its session was ready`)));
    }).catch(async (error: unknown) => {
      await worker.terminate();
      throw error;
    });
    if ("ready" in ready && !ready.ready) {
      await worker.terminate();
      throw new Error(`onnxruntime could not load the ${io.graph} graph: ${ready.error}`);
    }
    return new OnnxSessionThread(worker, io);
  }

  run(input: Float32Array, dims: number[]): Promise<{ data: Float32Array; type: string; dims: readonly number[] }> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      // Copied, not transferred: callers may reuse their input, and a batch's copy costs ~1 ms.
      this.worker.postMessage({ id, input, dims } satisfies OnnxRunRequest);
    });
  }

  async close(): Promise<void> {
    this.failure ??= new Error(`the onnxruntime ${this.io.graph} engine was disposed`);
    for (const pending of this.waiting.values()) pending.reject(this.failure);
    this.waiting.clear();
    this.worker.removeAllListeners("exit");
    await this.worker.terminate();
  }
}

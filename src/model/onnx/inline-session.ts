import type * as OnnxRuntime from "onnxruntime-node";
import type { InferenceSession } from "onnxruntime-node";
import type { OnnxGraphIo } from "./session.js";

/**
 * An onnxruntime session on the calling thread. onnxruntime-node runs inference synchronously (its
 * `run` only defers the call with setImmediate), so this blocks the thread for the whole forward
 * pass: right inside a worker thread whose job is that forward pass (a face-path worker), wrong on
 * a thread that also answers HTTP, which gets an OnnxSessionThread instead (session.ts).
 */
export class OnnxInlineSession {
  private closed = false;

  private constructor(
    private readonly ort: typeof OnnxRuntime,
    private readonly session: InferenceSession,
    private readonly io: OnnxGraphIo,
  ) {}

  static async start(model: Uint8Array, options: InferenceSession.SessionOptions, io: OnnxGraphIo): Promise<OnnxInlineSession> {
    const ort = await import("onnxruntime-node");
    try {
      return new OnnxInlineSession(ort, await ort.InferenceSession.create(model, options), io);
    } catch (error) {
      throw new Error(`onnxruntime could not load the ${io.graph} graph: ${(error as Error).message}`, { cause: error });
    }
  }

  async run(input: Float32Array, dims: number[]): Promise<{ data: Float32Array; type: string; dims: readonly number[] }> {
    if (this.closed) throw new Error(`the onnxruntime ${this.io.graph} engine was disposed`);
    let results: InferenceSession.OnnxValueMapType;
    try {
      results = await this.session.run({ [this.io.inputName]: new this.ort.Tensor("float32", input, dims) });
    } catch (error) {
      throw new Error(`onnxruntime failed: ${(error as Error).message}`, { cause: error });
    }
    const output = results[this.io.outputName];
    if (!output || !(output.data instanceof Float32Array)) throw new Error(`onnxruntime returned ${output ? output.type : "no output"} for the ${this.io.graph} graph`);
    return { data: output.data, type: output.type, dims: output.dims };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

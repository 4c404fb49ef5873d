import type * as tfjs from "@tensorflow/tfjs";
import { installWasmConcat } from "./wasm-concat.js";

/**
 * Which TensorFlow.js engine runs here. The GPU trainer image installs @tensorflow/tfjs-node-gpu
 * (CUDA); a machine with internet at install time may have @tensorflow/tfjs-node (native CPU).
 * Both are optional dependencies whose install downloads libtensorflow, so on an offline machine
 * they are absent or broken, and faceops falls back to the WebAssembly backend, then to plain JS.
 */

export type TfEngine = "tfjs-node-gpu" | "tfjs-node" | "tfjs-wasm" | "tfjs-cpu";
export const tfEngines: readonly TfEngine[] = ["tfjs-node-gpu", "tfjs-node", "tfjs-wasm", "tfjs-cpu"];

export interface TfRuntime {
  tf: typeof tfjs;
  engine: TfEngine;
  /** Why engines earlier in the preference order were not used, for the log. */
  skipped: Array<{ engine: TfEngine; reason: string }>;
}

let loaded: Promise<TfRuntime> | null = null;

/**
 * Loads TensorFlow.js once per process with the best engine available, or exactly `wanted`
 * (FACEOPS_ENGINE, read by the CLI) and fails when that one cannot load.
 */
export function loadTf(wanted?: TfEngine): Promise<TfRuntime> {
  loaded ??= initialise(wanted);
  return loaded;
}

async function initialise(wanted?: TfEngine): Promise<TfRuntime> {
  const skipped: TfRuntime["skipped"] = [];
  const candidates = wanted ? [wanted] : tfEngines;
  for (const engine of candidates) {
    try {
      return { ...(await tryEngine(engine)), skipped };
    } catch (error) {
      const reason = (error as Error).message.split("\n")[0] ?? "failed";
      if (wanted) throw new Error(`the ${engine} engine was requested but cannot load: ${reason}`, { cause: error });
      skipped.push({ engine, reason });
    }
  }
  throw new Error(`no TensorFlow.js engine could load: ${skipped.map((entry) => `${entry.engine}: ${entry.reason}`).join("; ")}`);
}

async function tryEngine(engine: TfEngine): Promise<Omit<TfRuntime, "skipped">> {
  switch (engine) {
    case "tfjs-node-gpu":
    case "tfjs-node": {
      // These packages register the "tensorflow" backend and re-export tfjs when they load.
      const tf = (await import(`@tensorflow/${engine}`)) as typeof tfjs;
      await tf.setBackend("tensorflow");
      await tf.ready();
      return { tf, engine };
    }
    case "tfjs-wasm": {
      const tf = await import("@tensorflow/tfjs");
      await import("@tensorflow/tfjs-backend-wasm");
      installWasmConcat(tf);
      if (!(await tf.setBackend("wasm"))) throw new Error("the wasm backend did not initialise");
      await tf.ready();
      return { tf, engine };
    }
    case "tfjs-cpu": {
      const tf = await import("@tensorflow/tfjs");
      await tf.setBackend("cpu");
      await tf.ready();
      return { tf, engine };
    }
  }
}

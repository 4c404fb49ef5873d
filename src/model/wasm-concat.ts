import type * as tfjs from "@tensorflow/tfjs";

/**
 * A faster Concat kernel for TensorFlow.js's WebAssembly backend, the same values as its own.
 *
 * The backend concatenates in JavaScript, copying each input's inner block with
 * `outVals.set(inVals.subarray(...))`: one subarray object per block. face-api subtracts the mean
 * colour before each detector and landmark pass by concatenating three [1, H, W, 1] tensors along
 * the last axis, which is H x W blocks of one value each: 307,200 subarrays for the tiny detector's
 * 320x320 input. In a face-path worker serving LFW photos that concat was 19% of the thread's time
 * (3.0 s of 15.6 s busy, `node --cpu-prof`, 2026-12-05). Small blocks are copied element by element
 * here instead; large blocks still in one `set`, and strings go to the backend's own kernel.
 */

/** Blocks shorter than this are copied by a loop: a subarray costs more than copying a few values. */
const loopBelow = 64;

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: tfjs.DataType): tfjs.TensorInfo;
  typedArrayFromHeap(tensor: tfjs.TensorInfo): tfjs.TypedArray;
}

const marker = Symbol.for("faceops.wasmConcat");

/** Replaces the wasm backend's Concat kernel (once per TensorFlow.js instance); does nothing when the backend is not registered. */
export function installWasmConcat(tf: typeof tfjs): void {
  const original = tf.getKernel("Concat", "wasm");
  if (!original || (original.kernelFunc as { [marker]?: boolean })[marker]) return;
  const { util, backend_util: backendUtil } = tf;
  const kernelFunc = ((args: { inputs: tfjs.NamedTensorInfoMap; backend: unknown; attrs?: tfjs.NamedAttrMap }) => {
    const inputs = Object.values(args.inputs) as tfjs.TensorInfo[];
    const first = inputs[0];
    if (!first || first.dtype === "string") return original.kernelFunc(args as Parameters<typeof original.kernelFunc>[0]);
    const nonEmpty = inputs.filter((input) => util.sizeFromShape(input.shape) > 0);
    if (nonEmpty.length < 2) return original.kernelFunc(args as Parameters<typeof original.kernelFunc>[0]);
    const axis = util.parseAxisParam(args.attrs?.axis as number, first.shape)[0] as number;
    const shapes = inputs.map((input) => input.shape);
    backendUtil.assertParamsConsistent(shapes, axis);
    const outShape = backendUtil.computeOutShape(shapes, axis);
    const backend = args.backend as WasmBackendLike;
    const out = backend.makeOutput(outShape, first.dtype);
    if (util.sizeFromShape(outShape) === 0) return out;
    const outer = util.sizeFromShape((nonEmpty[0] as tfjs.TensorInfo).shape.slice(0, axis));
    const blocks = nonEmpty.map((input) => util.sizeFromShape(input.shape.slice(axis)));
    const sources = nonEmpty.map((input) => backend.typedArrayFromHeap(input));
    const target = backend.typedArrayFromHeap(out);
    let offset = 0;
    for (let row = 0; row < outer; row++) {
      for (let index = 0; index < sources.length; index++) {
        const block = blocks[index] as number;
        const source = sources[index] as tfjs.TypedArray;
        const start = row * block;
        if (block < loopBelow) {
          for (let value = 0; value < block; value++) target[offset + value] = source[start + value] as number;
        } else {
          target.set(source.subarray(start, start + block), offset);
        }
        offset += block;
      }
    }
    return out;
  }) as unknown as tfjs.KernelFunc;
  (kernelFunc as unknown as { [marker]: boolean })[marker] = true;
  tf.unregisterKernel("Concat", "wasm");
  tf.registerKernel({ ...original, kernelFunc });
}

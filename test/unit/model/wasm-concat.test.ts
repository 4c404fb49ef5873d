import assert from "node:assert/strict";
import { test } from "node:test";
import { loadTf } from "../../../src/model/tfjs-engine.js";

/** Concatenation by the definition: for each index before the axis, each input's block in turn. */
function reference(inputs: Array<{ shape: number[]; values: number[] }>, axis: number): number[] {
  const size = (dims: number[]) => dims.reduce((product, dim) => product * dim, 1);
  const outer = size((inputs[0] as { shape: number[] }).shape.slice(0, axis));
  const out: number[] = [];
  for (let row = 0; row < outer; row++) {
    for (const input of inputs) {
      const block = size(input.shape.slice(axis));
      out.push(...input.values.slice(row * block, (row + 1) * block));
    }
  }
  return out;
}

test("the wasm Concat kernel faceops installs gives the values of the definition on every axis, with blocks small and large", async () => {
  const { tf, engine } = await loadTf("tfjs-wasm");
  assert.equal(engine, "tfjs-wasm");
  const kernel = tf.getKernel("Concat", "wasm")?.kernelFunc as unknown as Record<symbol, boolean> | undefined;
  assert.equal(kernel?.[Symbol.for("faceops.wasmConcat")], true, "faceops's kernel is the one registered");
  let seed = 3;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const cases: Array<{ shapes: number[][]; axis: number; dtype: "float32" | "int32" }> = [
    // face-api's mean subtraction: three one-channel planes along the last axis.
    { shapes: [[1, 40, 30, 1], [1, 40, 30, 1], [1, 40, 30, 1]], axis: 3, dtype: "float32" },
    { shapes: [[2, 5, 3], [2, 5, 70]], axis: 2, dtype: "float32" },
    { shapes: [[2, 3, 4], [2, 6, 4]], axis: 1, dtype: "int32" },
    { shapes: [[3, 100], [1, 100], [2, 100]], axis: 0, dtype: "float32" },
    { shapes: [[4, 0], [4, 3]], axis: 1, dtype: "float32" },
    { shapes: [[2, 2], [2, 65]], axis: -1, dtype: "int32" },
  ];
  for (const { shapes, axis, dtype } of cases) {
    const inputs = shapes.map((shape) => ({ shape, values: Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => (dtype === "int32" ? Math.floor(random() * 1000) : random())) }));
    const tensors = inputs.map((input) => tf.tensor(input.values, input.shape, dtype));
    const joined = tf.concat(tensors, axis);
    const positive = axis < 0 ? (shapes[0] as number[]).length + axis : axis;
    const expected = reference(inputs, positive);
    const actual = Array.from(await joined.data());
    assert.equal(actual.length, expected.length, `${JSON.stringify(shapes)} on axis ${axis}`);
    actual.forEach((value, index) => assert.ok(Math.abs(value - (expected[index] as number)) < 1e-6, `${JSON.stringify(shapes)} on axis ${axis}: value ${index} is ${value}, expected ${expected[index]}`));
    tf.dispose([...tensors, joined]);
  }
  // Strings and single inputs take the backend's own path.
  assert.deepEqual(await tf.concat([tf.tensor(["a", "b"]), tf.tensor(["c"])]).data(), ["a", "b", "c"]);
  assert.deepEqual(Array.from(await tf.concat([tf.tensor([1, 2])]).data()), [1, 2]);
});

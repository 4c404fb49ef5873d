import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { silentLogger } from "../../../../src/log.js";
import { createOnnxVgg16Engine } from "../../../../src/model/backbones/vgg16/onnx/index.js";
import { randomVgg16Weights } from "../../../../src/model/backbones/vgg16/weights/index.js";

/*
 * An onnxruntime session runs in a thread of its own (src/model/onnx/session.ts), which holds the
 * session's memory (the graph, onnxruntime's buffers) and keeps the process alive while it runs. A
 * disposed engine must end that thread: a benchmark process running several trainings, or a
 * service swapping models, would otherwise keep every session it ever built and never exit.
 */

const ports = () => process.getActiveResourcesInfo().filter((resource) => resource === "MessagePort").length;

describe("the onnxruntime session thread", () => {
  test("ends with its engine: nothing of it is left to keep the process alive, and the engine refuses work", async () => {
    const before = ports();
    const engine = await createOnnxVgg16Engine({ weights: randomVgg16Weights(1), inputSize: 32, pooling: "avg", log: silentLogger() });
    const features = await engine.run(new Float32Array(32 * 32 * 3), 1);
    assert.equal(features.length, 512);
    assert.equal(ports(), before + 1, "the running session thread's port");
    await engine.dispose();
    assert.equal(ports(), before, "the thread's port is gone with the engine");
    await assert.rejects(engine.run(new Float32Array(32 * 32 * 3), 1), /the onnxruntime VGG16 engine was disposed/);
  });

  test("int8 too, after its calibration", async () => {
    const before = ports();
    const engine = await createOnnxVgg16Engine({ weights: randomVgg16Weights(2), inputSize: 32, pooling: "avg", precision: "int8", log: silentLogger() });
    await engine.run(new Float32Array(32 * 32 * 3), 1);
    await engine.dispose();
    assert.equal(ports(), before);
  });
});

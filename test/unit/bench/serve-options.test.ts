import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { serveBenchOptions, serveParts } from "../../../bench/serve-options.js";

/*
 * The flags of `npm run bench -- serve` (bench/serve-options.ts): bench/run.ts hands every benchmark
 * the whole command line, so the serve bench must pick its own flags out of it, leave benchmark
 * names alone, and refuse a flag it cannot use with the value it received.
 */

describe("npm run bench -- serve: its flags", () => {
  test("without flags: 12 s measured after 3 s of warm-up, VGG16 at 1, 8 and 32, the face backbone at 8 and 32, every part", () => {
    const options = serveBenchOptions(["serve"]);
    assert.equal(options.seconds, 12);
    assert.equal(options.warmupSeconds, 3);
    assert.deepEqual(options.vgg16Levels, [1, 8, 32]);
    assert.deepEqual(options.faceLevels, [8, 32]);
    assert.deepEqual([...options.parts], [...serveParts]);
  });

  test("a short development run: the flags beside other benchmark names", () => {
    const options = serveBenchOptions(["train", "serve", "--duration=4", "--warmup=0", "--levels=8", "--parts=faces,capture"]);
    assert.equal(options.seconds, 4);
    assert.equal(options.warmupSeconds, 0);
    assert.deepEqual(options.vgg16Levels, [8]);
    assert.deepEqual(options.faceLevels, [8]);
    assert.deepEqual([...options.parts], ["faces", "capture"]);
  });

  test("a flag without a usable value is refused, naming the flag and what it received", () => {
    assert.throws(() => serveBenchOptions(["--duration=0"]), /--duration takes a number of seconds above 0.*received 0/);
    assert.throws(() => serveBenchOptions(["--duration=soon"]), /--duration .*received soon/);
    assert.throws(() => serveBenchOptions(["--warmup=-1"]), /--warmup .*received -1/);
    assert.throws(() => serveBenchOptions(["--levels"]), /--levels takes a value after "="/);
    assert.throws(() => serveBenchOptions(["--levels=8,,32"]), /--levels takes concurrencies .*received ""/);
    assert.throws(() => serveBenchOptions(["--levels=1.5"]), /received "1.5"/);
    assert.throws(() => serveBenchOptions(["--parts=fp16"]), /--parts takes fp32, int8, faces, capture .*received "fp16"/);
  });
});

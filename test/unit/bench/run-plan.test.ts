import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { benchmarkArguments, benchPlan } from "../../../bench/run-plan.js";
import { pushOptions } from "../../../bench/push.js";

/*
 * `npm run bench -- <names> <options>` (bench/run-plan.ts): which benchmarks run, and the command
 * line of each one's own process, where it must find every option it reads and no other name.
 */

const known = ["dataset", "vgg16", "train", "serve", "push"];

describe("npm run bench: the plan", () => {
  test("no name runs every benchmark in its own order; names run in the order given", () => {
    assert.deepEqual(benchPlan([], known, pushOptions).names, known);
    assert.deepEqual(benchPlan(["--people", "3"], known, pushOptions).names, known);
    assert.deepEqual(benchPlan(["push", "train"], known, pushOptions).names, ["push", "train"]);
  });

  test("a declared option's value is not a benchmark name; an unknown name is reported", () => {
    const plan = benchPlan(["push", "--people", "8", "serve", "--duration=3", "trian"], known, pushOptions);
    assert.deepEqual(plan.names, ["push", "serve", "trian"]);
    assert.deepEqual(plan.unknown, ["trian"]);
    assert.equal(plan.options.people, "8");
  });
});

describe("npm run bench: one benchmark's own command line", () => {
  const args = ["serve", "push", "--people", "3", "--duration=3", "--from-source", "train", "--levels=8,32", "--poll-interval", "2s"];

  test("its name first, then every option in the order given, with its value, the other names left out", () => {
    assert.deepEqual(benchmarkArguments("push", args, pushOptions), ["push", "--people", "3", "--duration=3", "--from-source", "--levels=8,32", "--poll-interval", "2s"]);
    assert.deepEqual(benchmarkArguments("train", args, pushOptions), ["train", "--people", "3", "--duration=3", "--from-source", "--levels=8,32", "--poll-interval", "2s"]);
  });

  test("read back, it names only that benchmark and gives it the same options", () => {
    const own = benchmarkArguments("push", args, pushOptions);
    const plan = benchPlan(own, known, pushOptions);
    assert.deepEqual(plan.names, ["push"]);
    assert.deepEqual(plan.options, benchPlan(args, known, pushOptions).options);
  });

  test("a value written with = stays one argument; nothing after -- is kept", () => {
    assert.deepEqual(benchmarkArguments("push", ["push", "--people=4", "--", "vgg16"], pushOptions), ["push", "--people=4"]);
  });
});

import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { attemptPhaseNames } from "../../../src/records/attempt-result.js";
import { PhaseTimer } from "../../../src/training/phase-timer.js";

/** The attempt's phase clock, driven by a hand-moved clock: phases follow each other without gaps. */
describe("PhaseTimer", () => {
  const clockAt = (times: number[]) => {
    let index = 0;
    return () => {
      const time = times[index];
      if (time === undefined) throw new Error("the test's clock has no more readings");
      index++;
      return time;
    };
  };

  test("each phase lasts from its start to the next one's; phases never entered are 0; in seconds", () => {
    const timer = new PhaseTimer(clockAt([1_500, 4_000, 4_250, 64_250, 70_000]));
    timer.enter("startup", 0);
    timer.enter("runtime");
    timer.enter("dataset");
    timer.enter("features");
    timer.enter("head");
    assert.equal(timer.phase, "head");
    timer.stop();
    assert.equal(timer.phase, null);
    assert.deepEqual(timer.phases(), { startup: 1.5, runtime: 2.5, dataset: 0.25, features: 60, head: 5.75, gate: 0, bundle: 0 });
  });

  test("the phase under way is not counted until it ends; a phase entered twice adds up", () => {
    const timer = new PhaseTimer(clockAt([]));
    timer.enter("features", 0);
    timer.enter("head", 1_000);
    assert.deepEqual(timer.phases().head, 0);
    timer.enter("features", 3_000);
    timer.stop(3_500);
    const phases = timer.phases();
    assert.equal(phases.features, 1.5);
    assert.equal(phases.head, 2);
    timer.stop(9_000);
    assert.equal(timer.phases().features, 1.5, "stopping with nothing under way changes nothing");
  });

  test("the result names every phase, in the order the steps run", () => {
    assert.deepEqual(Object.keys(new PhaseTimer(() => 0).phases()), [...attemptPhaseNames]);
  });

  test("a clock that goes back is an error naming the phase and both readings", () => {
    const timer = new PhaseTimer(clockAt([]));
    timer.enter("gate", 2_000);
    assert.throws(() => timer.enter("bundle", 1_000), /clock went back while timing phase "gate": from 2000 to 1000 ms/);
  });
});

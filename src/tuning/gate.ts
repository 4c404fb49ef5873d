/**
 * The gate a trained candidate must pass before it is promoted: an absolute accuracy on its
 * held-out split, and no regression against the model in service measured on that same split (the
 * deployed model is re-evaluated there; labels it does not know count as misses, so a new person
 * cannot make the old model look better than it is). Pure: the caller measures, the gate decides and
 * says why in a sentence that is recorded and shown.
 */

export interface GateSettings {
  /** Test accuracy the candidate needs, 0..1 (default 0.90). */
  minAccuracy: number;
  /** How much worse than the deployed model the candidate may be, 0..1 (default 0.01). */
  maxRegression: number;
}

export interface GateInput {
  /** The candidate's accuracy on its own test split. */
  candidateAccuracy: number;
  /** The deployed model's accuracy on the candidate's test split; null when nothing is deployed. */
  deployedAccuracy: number | null;
  /** The deployed model's version, for the reason sentence. */
  deployedVersion?: string | null;
  /** Photos in the test split, for the reason sentence. */
  testPhotos: number;
}

export interface GateDecision {
  pass: boolean;
  /** absolute: below minAccuracy; regression: worse than the deployed model; passed. */
  verdict: "passed" | "absolute" | "regression";
  reason: string;
}

export const defaultGate: GateSettings = { minAccuracy: 0.9, maxRegression: 0.01 };

const percent = (value: number) => `${(value * 100).toFixed(1)}%`;

export function validateGateSettings(settings: GateSettings): void {
  if (!(settings.minAccuracy >= 0 && settings.minAccuracy <= 1)) throw new RangeError(`minAccuracy must be within 0..1, received ${settings.minAccuracy}`);
  if (!(settings.maxRegression >= 0 && settings.maxRegression <= 1)) throw new RangeError(`maxRegression must be within 0..1, received ${settings.maxRegression}`);
}

export function decideGate(input: GateInput, settings: GateSettings = defaultGate): GateDecision {
  validateGateSettings(settings);
  const { candidateAccuracy, deployedAccuracy } = input;
  if (!Number.isFinite(candidateAccuracy)) {
    return { pass: false, verdict: "absolute", reason: `the candidate has no test accuracy (${String(candidateAccuracy)}); it cannot be promoted` };
  }
  const on = `on ${input.testPhotos} held-out photo${input.testPhotos === 1 ? "" : "s"}`;
  if (candidateAccuracy < settings.minAccuracy) {
    return {
      pass: false,
      verdict: "absolute",
      reason: `test accuracy ${percent(candidateAccuracy)} ${on} is below the required ${percent(settings.minAccuracy)}`,
    };
  }
  if (deployedAccuracy !== null && candidateAccuracy < deployedAccuracy - settings.maxRegression) {
    const deployed = input.deployedVersion ? `the deployed ${input.deployedVersion}` : "the deployed model";
    return {
      pass: false,
      verdict: "regression",
      reason: `test accuracy ${percent(candidateAccuracy)} ${on} is more than ${percent(settings.maxRegression)} below ${deployed}'s ${percent(deployedAccuracy)} on the same photos`,
    };
  }
  const against =
    deployedAccuracy === null
      ? "nothing is deployed yet"
      : `${input.deployedVersion ?? "the deployed model"} scores ${percent(deployedAccuracy)} on the same photos`;
  return { pass: true, verdict: "passed", reason: `test accuracy ${percent(candidateAccuracy)} ${on} meets ${percent(settings.minAccuracy)}, and ${against}` };
}

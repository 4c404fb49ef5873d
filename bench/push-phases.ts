import { createHash } from "node:crypto";
import { attemptPhaseNames, type AttemptPhases } from "../src/records/attempt-result.js";
import type { AttemptRecord, RunRecord } from "../src/records/runs.js";

/**
 * The pure half of the push-to-served benchmark (bench/push.ts): which people it holds out of the
 * repository, and how the seconds from a push to the served answer split into phases, from the run
 * record faceops keeps (GET /v1/runs/{id}) and the two moments the benchmark saw itself.
 */

/** A person of the dataset and their photos (paths), in name order. */
export interface DatasetPerson {
  name: string;
  photos: readonly string[];
}

/** Photos committed for a held-out person in its push; the photo after them is the one /v1/predict must name. */
export const pushedPhotos = 10;

/**
 * The held-out people, one per push: chosen among people with at least 12 photos (10 pushed, one to
 * name, one to spare) and at most 30 (so the repository keeps nearly all of the dataset), in the
 * order of a hash of their name: the same people on every machine and run, and not the first names
 * of the alphabet that a --people subset starts with.
 */
export function chooseHeldOut(people: readonly DatasetPerson[], count: number): DatasetPerson[] {
  const eligible = people.filter((person) => person.photos.length >= pushedPhotos + 2 && person.photos.length <= 30);
  if (eligible.length < count) throw new Error(`the push benchmark needs ${count} people with 12 to 30 photos, the dataset has ${eligible.length}`);
  const rank = (name: string) => createHash("sha256").update(`faceops push bench:${name}`).digest("hex");
  return [...eligible].sort((a, b) => (rank(a.name) < rank(b.name) ? -1 : 1)).slice(0, count);
}

/** What one push commits and what it asks afterwards. */
export function pushPlan(person: DatasetPerson): { committed: string[]; probe: string } {
  const committed = person.photos.slice(0, pushedPhotos);
  const probe = person.photos[pushedPhotos];
  if (probe === undefined) throw new Error(`${person.name} has ${person.photos.length} photos; a push needs ${pushedPhotos + 1}`);
  return { committed, probe };
}

/**
 * The phases of a push, in order, which add up to the whole (servedAt - pushedAt):
 *   notice       pushed (or faceops up started) -> the run's first attempt launched: the webhook or
 *                the poll, the controller's dataset check, the run created
 *   retries      earlier attempts of the run, when the first did not pass (absent otherwise)
 *   startup      the attempt process started, the backbone and face detector loaded
 *   dataset      the commit read and its photos checked in the attempt
 *   features     face crops and backbone vectors, from the feature cache or computed
 *   head         the head trained and evaluated, the open-set rule calibrated
 *   gate         the model in service measured on the same photos, the bundle written, the result
 *                noticed and judged by the controller (until the promotion starts)
 *   rollout      gate passed -> the served model answers (names the photo)
 */
export type PushPhase = "notice" | "retries" | "startup" | "dataset" | "features" | "head" | "gate" | "rollout";

export interface PushTimeline {
  /** Milliseconds since the epoch: when the push was made (or faceops up was started). */
  pushedAt: number;
  /** Milliseconds since the epoch: when the served model answered as awaited. */
  servedAt: number;
  /** The run that made the served version, as GET /v1/runs/{id} answers it. */
  run: RunRecord;
}

export interface PushBreakdown {
  phases: Array<{ phase: PushPhase; seconds: number }>;
  /** The attempt that passed the gate. */
  attempt: AttemptRecord;
  /** Seconds from the first attempt's launch to the gate's decision on the one that passed: the training a user waits for. */
  trainingSeconds: number;
}

export function pushBreakdown({ pushedAt, servedAt, run }: PushTimeline): PushBreakdown {
  const promotion = run.promotion;
  if (!promotion) throw new Error(`run ${run.id} has no promotion: it is ${run.state}${run.reason ? ` (${run.reason})` : ""}`);
  const attempt = run.attempts[promotion.attempt - 1];
  const first = run.attempts[0];
  if (!attempt?.startedAt || !first?.startedAt) throw new Error(`run ${run.id}: attempt ${promotion.attempt} has no start time`);
  const result = attempt.result;
  if (!result?.ok || !result.phases) throw new Error(`run ${run.id}: attempt ${attempt.number}'s result records no phases (written by a faceops before they were recorded?)`);
  const at = (iso: string) => Date.parse(iso);
  const seconds = (from: number, to: number) => (to - from) / 1000;
  const phases: AttemptPhases = result.phases;
  const inProcess = attemptPhaseNames.reduce((sum, name) => sum + phases[name], 0);
  const judged = at(promotion.startedAt);
  // What the attempt process did not time itself: its spawn, writing its result, the controller noticing and judging it.
  const controller = seconds(at(attempt.startedAt), judged) - inProcess;
  const list: PushBreakdown["phases"] = [
    { phase: "notice", seconds: seconds(pushedAt, at(first.startedAt)) },
    ...(attempt === first ? [] : [{ phase: "retries" as const, seconds: seconds(at(first.startedAt), at(attempt.startedAt)) }]),
    { phase: "startup", seconds: phases.startup + phases.runtime },
    { phase: "dataset", seconds: phases.dataset },
    { phase: "features", seconds: phases.features },
    { phase: "head", seconds: phases.head },
    { phase: "gate", seconds: phases.gate + phases.bundle + controller },
    { phase: "rollout", seconds: seconds(judged, servedAt) },
  ];
  return { phases: list, attempt, trainingSeconds: seconds(at(first.startedAt), judged) };
}

import { rm } from "node:fs/promises";
import type { FaceopsConfig } from "../config/schema.js";
import { recordManifest, withDataset } from "../dataset/check.js";
import type { GitCredentials } from "../dataset/source.js";
import type { Logger } from "../log.js";
import { defaultModelName, saveBundle } from "../model/bundle.js";
import { evaluateDeployed } from "../model/compare.js";
import type { LabelMetrics } from "../model/evaluate.js";
import type { PersonRecall } from "../tuning/gate.js";
import { deployedStrangerRejection } from "../model/deployed-strangers.js";
import { largestDistance } from "../model/open-set.js";
import { openTrainingRuntime } from "../model/training-runtime.js";
import { configuredTraining, trainModel, type TrainOutcome } from "../model/train.js";
import { writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { acquireLock, releaseLock } from "../store/lock.js";
import { transientErrorCode } from "../store/errors.js";
import { readCurrentModel } from "../store/models.js";
import { currentProcessIdentity } from "../store/process-identity.js";
import { attemptExit, type AttemptResult } from "../records/attempt-result.js";
import { readRun } from "../records/runs.js";
import type { GateOpenSet } from "../tuning/gate.js";
import { PhaseTimer, peakRssBytes } from "./phase-timer.js";

/**
 * One training attempt, the body of `faceops attempt --store S --run R --attempt N`: what a local
 * child process and a Kubernetes Job both run. It takes the attempt's lock (so a second process for
 * the same attempt stops at once), trains with the attempt's hyperparameters on the run's commit,
 * measures the model in service on the same test split, writes the candidate bundle and then its
 * result. It never touches the run record or the models: the controller decides what follows. The
 * result file and the exit codes are the contract with the controller (records/attempt-result.ts).
 * The result says where the time went (its phases, from the process's start) and the process's peak
 * memory, so a run record answers "why did this push take a minute" without a profiler.
 */

/** How often the features phase logs how far it is: a user tailing attempt.log sees it move. */
const featureProgressEveryMs = 10_000;

export interface AttemptRequest {
  runId: string;
  attempt: number;
  config: FaceopsConfig;
  store: StoreLayout;
  log: Logger;
  env: NodeJS.ProcessEnv;
  credentials: GitCredentials;
}

/** Thrown for failures that a retry cannot fix: the dataset changed under the run, or is unusable. */
export class PermanentAttemptError extends Error {
  override readonly name = "PermanentAttemptError";
}

export async function runAttempt(request: AttemptRequest): Promise<number> {
  const { store, runId, attempt, log } = request;
  // performance.now() counts from the process's start: the startup phase is what came before this call.
  const timer = new PhaseTimer(() => performance.now());
  timer.enter("startup", 0);
  const paths = store.attempt(runId, attempt);
  const identity = await currentProcessIdentity();
  const lock = await acquireLock(paths.lock, { ...identity, acquiredAt: new Date().toISOString(), run: runId, attempt });
  if (!lock.acquired) {
    log.warn({ run: runId, attempt, holder: lock.holder.pid }, "another process is already working on this attempt; leaving it alone");
    return attemptExit.alreadyRunning;
  }
  const started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  try {
    const result = await trainAttempt(request, paths.bundle, seconds, timer);
    await writeJsonAtomic(paths.result, result);
    log.info({ run: runId, attempt, accuracy: result.ok ? result.accuracy : null }, "attempt finished");
    return attemptExit.passed;
  } catch (error) {
    const transient = transientErrorCode(error);
    const permanent = !transient && error instanceof PermanentAttemptError;
    const message = error instanceof Error ? error.message : String(error);
    log.error({ err: error, run: runId, attempt, permanent, transient }, transient ? `attempt failed: the machine is out of something (${transient}); it will be run again` : "attempt failed");
    const result: AttemptResult = { ok: false, error: message, permanent, ...(transient ? { transient: true } : {}), durationSeconds: seconds(), peakRssBytes: peakRssBytes() };
    try {
      await writeJsonAtomic(paths.result, result);
    } catch (writing) {
      // The disk that failed the attempt may not take its result either: the exit code says it.
      if (transientErrorCode(writing)) return attemptExit.transient;
      throw writing;
    }
    return transient ? attemptExit.transient : permanent ? attemptExit.permanent : attemptExit.failed;
  } finally {
    await releaseLock(paths.lock, identity);
  }
}

async function trainAttempt(request: AttemptRequest, bundleDir: string, seconds: () => number, timer: PhaseTimer): Promise<AttemptResult> {
  const { store, runId, attempt, log } = request;
  const run = await readRun(store, runId);
  if (!run) throw new PermanentAttemptError(`run ${runId} does not exist in ${store.root}`);
  const record = run.attempts[attempt - 1];
  if (!record || record.number !== attempt) throw new PermanentAttemptError(`run ${runId} has no attempt ${attempt}`);
  const { hyperparameters } = record;
  const config: FaceopsConfig = { ...request.config, train: { ...request.config.train, ...hyperparameters } };
  log.info({ run: runId, attempt, commit: run.commit, ...hyperparameters, reason: record.reason }, "attempt starting");
  await rm(bundleDir, { recursive: true, force: true });

  timer.enter("runtime");
  const runtime = await openTrainingRuntime({ config, store, log });
  try {
    timer.enter("dataset");
    return await withDataset(
      { location: config.source.repo, commit: run.commit ?? undefined, dataset: config.dataset, store, log, env: request.env, credentials: request.credentials },
      async (manifest, readPhoto) => {
        if (manifest.fingerprint !== run.fingerprint) {
          throw new PermanentAttemptError(`the dataset at ${run.commit ?? config.source.repo} has fingerprint ${manifest.fingerprint.slice(0, 12)}, not the run's ${run.fingerprint.slice(0, 12)}`);
        }
        if (!manifest.usable) throw new PermanentAttemptError(`the dataset has ${manifest.labels.length} usable label(s); training needs at least 2`);
        await recordManifest(store, manifest);
        timer.enter("features");
        const outcome = await trainModel({
          manifest,
          readPhoto,
          ...configuredTraining(config, runtime, store),
          log,
          name: defaultModelName,
          onFeatureProgress: featureProgressLog(log, { run: runId, attempt }),
          onFeaturesExtracted: () => timer.enter("head"),
        });
        timer.enter("gate");
        const faces = outcome.metadata.faces;
        if (faces) log.info({ run: runId, attempt, photos: faces.photos, facesFound: faces.facesFound, warnings: faces.warningCounts, rejected: faces.rejected.length }, "faces in the training photos");
        try {
          const current = await readCurrentModel(store);
          let deployed: { version: string; accuracy: number; people: PersonRecall[] } | null = null;
          if (current) {
            const evaluation = await evaluateDeployed(store.modelVersion(current.version), outcome.testSet, outcome.metadata, { tf: runtime.tf, config, log, readPhoto });
            deployed = { version: current.version, accuracy: evaluation.accuracy, people: personRecalls(outcome.metadata.metrics.perLabel, evaluation.byPerson) };
            log.info({ version: current.version, accuracy: evaluation.accuracy, via: evaluation.via }, "the deployed model on the candidate's test split");
          }
          const openSet = await openSetFigures(outcome, current?.version ?? null, current ? store.modelVersion(current.version) : null, { config, log, readPhoto });
          timer.enter("bundle");
          const metadata = await saveBundle(bundleDir, { metadata: outcome.metadata, head: outcome.head, scaling: outcome.scaling, references: outcome.references, tf: runtime.tf });
          timer.stop();
          return {
            ok: true,
            accuracy: metadata.metrics.accuracy,
            balancedAccuracy: metadata.metrics.balancedAccuracy,
            testPhotos: outcome.testSet.photos.length,
            labels: metadata.labels.length,
            curves: metadata.metrics.curves,
            deployed,
            forwardPasses: runtime.backbone.forwardPasses,
            durationSeconds: seconds(),
            engine: metadata.backbone.engine,
            backbone: metadata.backbone.id,
            faces: metadata.faces ?? null,
            openSet,
            phases: timer.phases(),
            features: outcome.featureStats,
            peakRssBytes: peakRssBytes(),
          };
        } finally {
          outcome.head.dispose();
        }
      },
    );
  } finally {
    await runtime.dispose();
  }
}

/** Logs the features' progress at most every featureProgressEveryMs, and once at the end. */
function featureProgressLog(log: Logger, context: { run: string; attempt: number }): (done: number, total: number) => void {
  let lastAt = performance.now();
  return (done, total) => {
    const now = performance.now();
    if (done < total && now - lastAt < featureProgressEveryMs) return;
    lastAt = now;
    log.info({ ...context, done, total }, "computing backbone features: progress");
  };
}

/**
 * The candidate's "unknown" answer for the gate: the stranger rejection on the test split's strangers
 * when it has any (held out of the calibration), else the calibration's own (optimistic: the
 * threshold was chosen on it); the known rejection on the test split; and both models on the same
 * `_not/` test photos when a model is deployed (deployed-strangers.ts). Null when the candidate's
 * rule never answers "unknown" (maxDistance off).
 */
async function openSetFigures(
  outcome: TrainOutcome,
  deployedVersion: string | null,
  deployedDirectory: string | null,
  deps: Parameters<typeof deployedStrangerRejection>[3],
): Promise<GateOpenSet | null> {
  const openSet = outcome.metadata.openSet;
  if (!openSet || openSet.maxDistance >= largestDistance) return null;
  const test = openSet.test;
  const onTest = (test?.strangerPhotos ?? 0) > 0;
  const calibration = openSet.calibration;
  let deployed: GateOpenSet["deployed"] = null;
  const strangers = outcome.strangerTestSet;
  if (deployedVersion && deployedDirectory && strangers.photos.length > 0) {
    const rejection = await deployedStrangerRejection(deployedDirectory, strangers, outcome.metadata, deps);
    if (rejection !== null) {
      const candidate = strangers.vectors.filter((vector) => outcome.knownFaces.nearest(vector).distance > openSet.maxDistance).length / strangers.vectors.length;
      deployed = { version: deployedVersion, strangerRejection: rejection, candidateStrangerRejection: candidate, photos: strangers.photos.length };
      deps.log.info({ version: deployedVersion, deployed: rejection, candidate, photos: strangers.photos.length }, "both models on the _not/ test photos");
    }
  }
  return {
    strangerRejection: onTest ? (test?.strangerRejection ?? null) : (calibration?.strangerRejection ?? null),
    strangerPhotos: onTest ? (test?.strangerPhotos ?? 0) : (calibration?.strangerPhotos ?? 0),
    measuredOn: onTest ? "test" : "calibration",
    knownRejection: test?.knownRejection ?? outcome.metadata.metrics.knownRejectedRate ?? null,
    knownPhotos: test?.knownPhotos ?? outcome.testSet.photos.length,
    deployed,
  };
}

/** Each person of the test split: the candidate's recall (its evaluation) beside the deployed model's on the same photos. */
function personRecalls(candidate: readonly LabelMetrics[], deployed: ReadonlyMap<string, { photos: number; named: number }>): PersonRecall[] {
  return candidate
    .filter((entry) => entry.support > 0 && deployed.has(entry.label))
    .map((entry) => {
      const counts = deployed.get(entry.label) as { photos: number; named: number };
      return { person: entry.label, photos: entry.support, candidate: entry.recall, deployed: counts.photos > 0 ? counts.named / counts.photos : 0 };
    });
}

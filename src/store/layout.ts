import { createHash } from "node:crypto";
import { join, resolve } from "node:path";

/**
 * Where things live inside the store folder (a local folder, or a PVC shared by the controller,
 * the training Jobs and the inference pods). Only this module knows the layout.
 */
export class StoreLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = resolve(root);
  }

  /** Facts about every photo ever validated, keyed by git blob id or content hash. */
  get validationCache(): string {
    return join(this.root, "cache", "validation.json");
  }

  /** The split each photo was given the first time it was seen, so later commits never move it. */
  get splitLedger(): string {
    return join(this.root, "dataset", "split-ledger.json");
  }

  /** A bare clone of a remote repository, one per URL (credentials never part of the name). */
  sourceClone(url: string): string {
    return join(this.root, "sources", createHash("sha256").update(url).digest("hex").slice(0, 16));
  }

  /** Backbone features per photo (see model/feature-cache.ts). */
  get features(): string {
    return join(this.root, "features");
  }

  /** The face box found in each photo, per detector, so detection runs once per photo. */
  get faceBoxes(): string {
    return join(this.root, "cache", "face-boxes.json");
  }

  /** Every dataset manifest trained on, by fingerprint; the feature cache keeps what these reference. */
  get manifests(): string {
    return join(this.root, "datasets");
  }

  manifest(fingerprint: string): string {
    return join(this.manifests, `${fingerprint}.json`);
  }

  /** The backbone `auto` chose for this store, kept so results do not flip with the network. */
  get backboneChoice(): string {
    return join(this.root, "backbone.json");
  }

  /** Promoted model versions, one bundle folder each: models/v1, models/v2, ... */
  get models(): string {
    return join(this.root, "models");
  }

  modelVersion(version: string): string {
    if (!/^v[1-9][0-9]*$/.test(version)) throw new Error(`"${version}" is not a model version (v1, v2, ...)`);
    return join(this.models, version);
  }

  /** Which version serves: the one pointer a promotion moves and every server follows. */
  get currentModel(): string {
    return join(this.models, "current.json");
  }

  /** Runs of the controller, one folder each: runs/<id>/run.json and runs/<id>/attempt-<n>/. */
  get runs(): string {
    return join(this.root, "runs");
  }

  run(id: string): string {
    if (!/^[0-9]{1,9}$/.test(id)) throw new Error(`"${id}" is not a run id (a number)`);
    return join(this.runs, id);
  }

  runRecord(id: string): string {
    return join(this.run(id), "run.json");
  }

  /** The configuration a run was created with; its attempts (local processes or Jobs) train with it. */
  runConfig(id: string): string {
    return join(this.run(id), "config.json");
  }

  /** Everything one attempt leaves: its lock (pid and start time), log, result and bundle. */
  attempt(runId: string, attempt: number): AttemptPaths {
    if (!Number.isInteger(attempt) || attempt < 1) throw new Error(`"${attempt}" is not an attempt number (1, 2, ...)`);
    const folder = join(this.run(runId), `attempt-${attempt}`);
    return {
      folder,
      lock: join(folder, "process.json"),
      log: join(folder, "attempt.log"),
      result: join(folder, "result.json"),
      bundle: join(folder, "bundle"),
    };
  }

  /** Since when the watched branch has held photos the model in service was not trained on (kept across restarts). */
  get untrainedSince(): string {
    return join(this.root, "untrained-since.json");
  }

  /** Held by the one controller working on this store (pid and start time). */
  get controllerLock(): string {
    return join(this.root, "controller.lock");
  }

  /** Runs asked for over HTTP (POST /v1/runs): one record per request, pending until the controller acts on it. */
  get runRequests(): string {
    return join(this.root, "requests");
  }

  runRequest(id: string): string {
    if (!/^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$/.test(id)) throw new Error(`"${id}" is not a run request id`);
    return join(this.runRequests, `${id}.json`);
  }

  /** The one request slot of faceops before requests were queued; moved into the queue when a controller starts. */
  get legacyRunRequest(): string {
    return join(this.root, "run-requests.json");
  }

  /** Faces the service kept for review (opt-in, serve.capture), review decisions and their audit log. */
  get inbox(): string {
    return join(this.root, "inbox");
  }

  get temporary(): string {
    return join(this.root, "tmp");
  }
}

export interface AttemptPaths {
  folder: string;
  lock: string;
  log: string;
  result: string;
  bundle: string;
}

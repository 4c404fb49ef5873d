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

  get temporary(): string {
    return join(this.root, "tmp");
  }
}

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

  get temporary(): string {
    return join(this.root, "tmp");
  }
}

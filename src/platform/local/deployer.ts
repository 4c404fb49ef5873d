import { rm } from "node:fs/promises";
import type { StoreLayout } from "../../store/layout.js";
import { pointCurrentModel } from "../../store/models.js";
import type { ModelDeployer } from "../types.js";

/**
 * Rollout on one machine: the store's current-version pointer moves (atomically) and the inference
 * server following it hot-swaps; the rollout is confirmed by asking the server which version it has
 * ready. Rolling back moves the pointer back.
 */
export class LocalDeployer implements ModelDeployer {
  constructor(
    private readonly store: StoreLayout,
    /** The version the server has loaded and ready, e.g. from its slot or its /readyz. */
    private readonly readyVersion: () => Promise<string | null>,
  ) {}

  async rollout(version: string, reason: string): Promise<void> {
    await pointCurrentModel(this.store, version, reason);
  }

  servedVersion(): Promise<string | null> {
    return this.readyVersion();
  }

  async rollback(version: string, previous: string | null, reason: string): Promise<void> {
    if (previous) await pointCurrentModel(this.store, previous, `rollback from ${version}: ${reason}`);
    else await rm(this.store.currentModel, { force: true });
  }
}

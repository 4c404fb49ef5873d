import { readdir } from "node:fs/promises";
import { readJsonOr, writeJsonAtomic } from "./files.js";
import type { StoreLayout } from "./layout.js";

/**
 * Model versions in the store and the pointer to the one in service. The pointer is a small JSON
 * record replaced atomically, so a server reading it sees the old version or the new one; the
 * bundle it names is complete before the pointer ever names it.
 */

export interface CurrentModel {
  version: string;
  /** The version served before this one, for rollback. */
  previous: string | null;
  promotedAt: string;
  reason: string;
}

export async function readCurrentModel(store: StoreLayout): Promise<CurrentModel | null> {
  const current = await readJsonOr<CurrentModel | null>(store.currentModel, null);
  if (current && !/^v[1-9][0-9]*$/.test(current.version)) {
    throw new Error(`${store.currentModel} names "${current.version}", which is not a model version`);
  }
  return current;
}

export async function pointCurrentModel(store: StoreLayout, version: string, reason: string): Promise<CurrentModel> {
  store.modelVersion(version);
  const previous = await readCurrentModel(store);
  const current: CurrentModel = { version, previous: previous?.version ?? null, promotedAt: new Date().toISOString(), reason };
  await writeJsonAtomic(store.currentModel, current);
  return current;
}

/** Versions present in the store, oldest first. */
export async function listModelVersions(store: StoreLayout): Promise<string[]> {
  const names = await readdir(store.models).catch(() => [] as string[]);
  return names
    .filter((name) => /^v[1-9][0-9]*$/.test(name))
    .sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
}

export async function nextModelVersion(store: StoreLayout): Promise<string> {
  const versions = await listModelVersions(store);
  const last = versions.at(-1);
  return `v${last ? Number(last.slice(1)) + 1 : 1}`;
}

import { readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";

/**
 * Since when the watched branch has held photos the model in service was not trained on
 * (untrained-since.json). It is kept in the store so that a restarted controller does not reset the
 * clock an alert reads; it names the dataset of the model then in service, and is void once a model
 * trained on another dataset serves. `null` in the file: nothing waits for training.
 */
export interface UntrainedRecord {
  /** ISO time the controller first saw the branch hold a dataset the model in service was not trained on. */
  since: string;
  /** Fingerprint of the dataset the model then in service was trained on (null: no model served, or its bundle did not say). */
  servedFingerprint: string | null;
}

/**
 * The record, `null` when it says nothing waits, or `undefined` when there is none to trust: no
 * file yet, or one that is not such a record (a truncated file, or one edited by hand). An
 * untrustworthy record is replaced, never a reason to stop.
 */
export async function readUntrainedRecord(store: StoreLayout): Promise<UntrainedRecord | null | undefined> {
  const recorded = await readJsonOr<unknown>(store.untrainedSince, undefined).catch(() => undefined);
  if (recorded === null) return null;
  if (typeof recorded !== "object" || recorded === undefined) return undefined;
  const fields = recorded as Partial<UntrainedRecord>;
  if (typeof fields.since !== "string" || !Number.isFinite(Date.parse(fields.since))) return undefined;
  if (fields.servedFingerprint !== null && typeof fields.servedFingerprint !== "string") return undefined;
  return { since: fields.since, servedFingerprint: fields.servedFingerprint };
}

export async function writeUntrainedRecord(store: StoreLayout, record: UntrainedRecord | null): Promise<void> {
  await writeJsonAtomic(store.untrainedSince, record);
}

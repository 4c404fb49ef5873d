import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { readdirIfExists, readJsonOr, writeJsonAtomic } from "../store/files.js";
import type { StoreLayout } from "../store/layout.js";
import { sortableTime } from "../util/sortable-time.js";

/**
 * Run requests (POST /v1/runs) as a queue in the store: one record per request, written atomically,
 * so two requests a moment apart are two records and a restart finds every one. The HTTP API only
 * adds pending records; the controller alone resolves them, oldest first, each once. A run created
 * for a request names it, so a controller stopped between creating the run and resolving the
 * request resolves it on its next pass instead of running it twice.
 */

/**
 * pending: not acted on yet; started: a run was created for it (`run`); skipped: nothing to do (the
 * last run, `run`, already trained on the same dataset, and force was not asked); failed: it cannot
 * be acted on (its commit does not exist, its dataset cannot be trained on), `reason` says why.
 */
export type RunRequestState = "pending" | "started" | "skipped" | "failed";

export interface RunRequestRecord {
  schemaVersion: 1;
  id: string;
  /** What was asked for: a commit id or a ref name; null: the branch tip when it is acted on. */
  commit: string | null;
  /** The full commit id `commit` named when the request was accepted; null for the branch tip. */
  sha: string | null;
  /** Run even when the dataset is the same as the last run's. */
  force: boolean;
  requestedAt: string;
  /** Who asked: the client's address. */
  by: string;
  state: RunRequestState;
  /** The run it started, or the run that already had its dataset. */
  run: string | null;
  /** The sentence that resolved it. */
  reason: string | null;
  resolvedAt: string | null;
}

/** Ids sort in the order requests arrived: the time to the millisecond, then a random part. */
export const requestIdPattern = /^[0-9]{8}T[0-9]{9}Z-[0-9a-f]{8}$/;

export function newRequestId(now: number): string {
  return `${sortableTime(now)}-${randomBytes(4).toString("hex")}`;
}

/** Resolved requests kept for people to read (pending ones are always kept). */
export const keptResolvedRequests = 200;

/** Records a new pending request and answers it. */
export async function addRunRequest(
  store: StoreLayout,
  wish: Pick<RunRequestRecord, "commit" | "sha" | "force" | "by">,
  now = Date.now(),
): Promise<RunRequestRecord> {
  const record: RunRequestRecord = {
    schemaVersion: 1,
    id: newRequestId(now),
    ...wish,
    requestedAt: new Date(now).toISOString(),
    state: "pending",
    run: null,
    reason: null,
    resolvedAt: null,
  };
  await writeRunRequest(store, record);
  return record;
}

export async function writeRunRequest(store: StoreLayout, record: RunRequestRecord): Promise<void> {
  await writeJsonAtomic(store.runRequest(record.id), record);
}

/**
 * One request, or null when there is none with that id. A record that cannot be read (edited by
 * hand into something else) reads as failed, so that it neither stops the queue nor runs.
 */
export async function readRunRequest(store: StoreLayout, id: string): Promise<RunRequestRecord | null> {
  let record: unknown;
  try {
    record = await readJsonOr<unknown>(store.runRequest(id), null);
  } catch (error) {
    return unreadable(id, (error as Error).message);
  }
  if (record === null) return null;
  const fields = record as Partial<RunRequestRecord>;
  const states: readonly string[] = ["pending", "started", "skipped", "failed"] satisfies RunRequestState[];
  if (typeof record !== "object" || fields.id !== id || typeof fields.state !== "string" || !states.includes(fields.state)) {
    return unreadable(id, `${store.runRequest(id)} is not a run request record`);
  }
  return record as RunRequestRecord;
}

function unreadable(id: string, why: string): RunRequestRecord {
  return { schemaVersion: 1, id, commit: null, sha: null, force: false, requestedAt: "", by: "", state: "failed", run: null, reason: why, resolvedAt: null };
}

/** Every request in the store, oldest first. */
export async function listRunRequests(store: StoreLayout): Promise<RunRequestRecord[]> {
  const names = await readdirIfExists(store.runRequests);
  const ids = names
    .filter((name) => name.endsWith(".json"))
    .map((name) => name.slice(0, -".json".length))
    .filter((id) => requestIdPattern.test(id))
    .sort();
  const records: RunRequestRecord[] = [];
  for (const id of ids) {
    const record = await readRunRequest(store, id);
    if (record) records.push(record);
  }
  return records;
}

/** Deletes the oldest resolved requests beyond `keep`. */
export async function pruneRunRequests(store: StoreLayout, keep = keptResolvedRequests): Promise<void> {
  const resolved = (await listRunRequests(store)).filter((record) => record.state !== "pending");
  for (const record of resolved.slice(0, Math.max(0, resolved.length - keep))) await rm(store.runRequest(record.id), { force: true });
}

/** The one request slot of faceops before the queue (null, or commit, force, requestedAt, by). */
interface LegacyRunRequest {
  commit?: unknown;
  force?: unknown;
  by?: unknown;
}

/**
 * Moves a request left in the one-slot file of an older faceops into the queue (it was never
 * checked, so its commit is resolved when it is acted on) and removes the file.
 */
export async function adoptLegacyRunRequest(store: StoreLayout, now = Date.now()): Promise<RunRequestRecord | null> {
  const legacy = await readJsonOr<LegacyRunRequest | null>(store.legacyRunRequest, null).catch(() => null);
  let adopted: RunRequestRecord | null = null;
  if (legacy && typeof legacy === "object") {
    adopted = await addRunRequest(
      store,
      {
        commit: typeof legacy.commit === "string" ? legacy.commit : null,
        sha: null,
        force: legacy.force === true,
        by: typeof legacy.by === "string" ? legacy.by : "unknown",
      },
      now,
    );
  }
  await rm(store.legacyRunRequest, { force: true });
  return adopted;
}

import { runSummary } from "../../controller/http.js";
import { isActive, listRuns, type RunRecord } from "../../records/runs.js";
import { listRunRequests, type RunRequestRecord } from "../../records/requests.js";
import { readBundleMetadata, type BundleMetadata } from "../../model/bundle.js";
import { readCurrentModel } from "../../store/models.js";
import type { CommandContext } from "../context.js";
import { printable, printableLines } from "../printable.js";
import { renderTable } from "../table.js";

export interface StatusOptions {
  json?: boolean;
  limit?: string;
}

/** `faceops status`: the model in service, the active run, run requests and the last runs, read from the store. */
export async function statusCommand(options: StatusOptions, context: CommandContext): Promise<void> {
  const limit = options.limit === undefined ? 10 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a positive whole number, received "${options.limit}"`);
  const { store } = context;
  const current = await readCurrentModel(store);
  const metadata = current ? await readMetadata(store.modelVersion(current.version)) : null;
  const runs = await listRuns(store);
  const active = runs.find(isActive) ?? null;
  const model = current
    ? {
        version: current.version,
        previous: current.previous,
        promotedAt: current.promotedAt,
        reason: current.reason,
        labels: metadata?.labels ?? null,
        accuracy: metadata?.metrics.accuracy ?? null,
        datasetCommit: metadata?.dataset.commit ?? null,
        backbone: metadata ? `${metadata.backbone.id} on ${metadata.backbone.engine}` : null,
      }
    : null;
  const recent = runs.slice(-limit).reverse();
  const requests = (await listRunRequests(store)).reverse();
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ store: store.root, model, activeRun: active, requests: requests.slice(0, limit), runs: recent.map(runSummary) }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${printableLines(renderStatus(store.root, model, active, recent, requests))}\n`);
}

/** Requests waiting, and the last one that could not be acted on, newest first in `requests`. */
function requestLine(requests: RunRequestRecord[]): string | null {
  const pending = requests.filter((request) => request.state === "pending");
  const failed = requests.find((request) => request.state === "failed");
  if (pending.length === 0 && !failed) return null;
  const parts = [`${pending.length} pending`];
  if (failed) parts.push(`last failed ${printable(failed.id)} (${printable(failed.commit ?? "branch tip")}): ${printable(failed.reason ?? "no reason recorded")}`);
  return `Requests     ${parts.join("; ")}`;
}

/** Read as the loader reads it (capped, no link followed): the store's folders are no more trusted here. */
async function readMetadata(directory: string): Promise<BundleMetadata | null> {
  try {
    return await readBundleMetadata(directory);
  } catch {
    return null;
  }
}

const percent = (value: number | null | undefined) => (value === null || value === undefined ? "-" : `${(value * 100).toFixed(1)}%`);

function renderStatus(
  root: string,
  model: { version: string; labels: string[] | null; accuracy: number | null; datasetCommit: string | null; promotedAt: string; backbone: string | null } | null,
  active: RunRecord | null,
  runs: RunRecord[],
  requests: RunRequestRecord[],
): string {
  // Values are escaped one by one (a reason may quote a file name); the table escapes its own cells.
  const lines = [`Store        ${printable(root)}`];
  lines.push(
    model
      ? `In service   ${printable(model.version)}: ${model.labels?.length ?? "?"} people, test accuracy ${percent(model.accuracy)}, commit ${printable(model.datasetCommit?.slice(0, 12) ?? "-")}, ${printable(model.backbone ?? "")}, since ${printable(model.promotedAt)}`
      : "In service   nothing yet",
  );
  if (active) {
    const attempt = active.attempts.at(-1);
    lines.push(`Active run   ${printable(`${active.id} (${active.state}), commit ${active.commit?.slice(0, 12) ?? "-"}, attempt ${attempt?.number ?? "-"} ${attempt?.state ?? ""}: ${attempt?.reason ?? ""}`)}`);
  } else {
    lines.push("Active run   none");
  }
  const requested = requestLine(requests);
  if (requested) lines.push(requested);
  if (runs.length === 0) return [...lines, "", "No runs yet."].join("\n");
  lines.push(
    "",
    renderTable(
      ["RUN", "STATE", "COMMIT", "PHOTOS", "PEOPLE", "ATTEMPTS", "BEST ACC", "VERSION", "REASON"],
      runs.map((run) => {
        const summary = runSummary(run);
        return [run.id, run.state, run.commit?.slice(0, 12) ?? "-", run.dataset.photos, run.dataset.labels, run.attempts.length, percent(summary.bestAccuracy), summary.version ?? "-", run.reason ?? ""];
      }),
    ),
  );
  return lines.join("\n");
}

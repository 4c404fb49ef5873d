import { readBundleMetadata } from "../../model/bundle.js";
import { effectiveMaxDistance } from "../../model/open-set.js";
import { parseReviewer, ReviewDecisions, ReviewError, type ReviewAction, type ReviewDecision } from "../../review/decisions.js";
import { decide, publicGroup, waitingGroups, type ReviewQueue } from "../../review/queue.js";
import { readCurrentModel } from "../../store/models.js";
import { storeInbox, type CommandContext } from "../context.js";
import { printableLines } from "../printable.js";
import { renderTable } from "../table.js";

/**
 * `faceops inbox list|assign|discard|not`: review the faces the service kept (serve.capture), reading
 * and writing the store as `faceops status` does. The JSON of `inbox list` is a contract relied on by
 * tools: {"groups": [{"id", "faces": [{"id", "capturedAt", "modelVersion", "answer", "distance", ...}],
 * "nearest": {"label", "distance"} | null}]}.
 */

export interface InboxListOptions {
  json?: boolean;
}

export interface InboxDecisionOptions {
  person?: string;
  reviewer?: string;
  json?: boolean;
}

/** The inbox and decisions of the context's store, grouped at the open-set threshold of the model in service. */
export async function openReviewQueue(context: CommandContext): Promise<ReviewQueue> {
  const { store, loaded } = context;
  const current = await readCurrentModel(store);
  if (!current) throw new ReviewError(`no model is in service in ${store.root}: faces are grouped at its open-set threshold, so there is nothing to review against`);
  const metadata = await readBundleMetadata(store.modelVersion(current.version));
  return {
    inbox: storeInbox(context),
    decisions: new ReviewDecisions(store.inbox),
    linkDistance: effectiveMaxDistance(loaded.config.openSet.maxDistance, metadata.openSet),
  };
}


export async function inboxListCommand(options: InboxListOptions, context: CommandContext): Promise<void> {
  const groups = await waitingGroups(await openReviewQueue(context));
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ groups: groups.map(publicGroup) }, null, 2)}\n`);
    return;
  }
  if (groups.length === 0) {
    process.stdout.write("The inbox is empty: no face waits for review.\n");
    return;
  }
  const faces = groups.reduce((sum, group) => sum + group.faces.length, 0);
  const rows = groups.flatMap((group) =>
    group.faces.map((face, index) => [
      index === 0 ? group.id : "",
      index === 0 ? (group.nearest ? `${group.nearest.label} (${group.nearest.distance.toFixed(3)})` : "-") : "",
      face.id,
      face.capturedAt,
      face.modelVersion,
      face.answer,
      face.distance === null ? "-" : face.distance.toFixed(3),
    ]),
  );
  const table = renderTable(["GROUP", "NEAREST", "FACE", "CAPTURED", "MODEL", "ANSWER", "DISTANCE"], rows);
  process.stdout.write(`${printableLines(`${faces} face(s) in ${groups.length} group(s) wait for review.\n\n${table}`)}\n`);
}

export async function inboxDecisionCommand(action: ReviewAction, ids: string[], options: InboxDecisionOptions, context: CommandContext): Promise<void> {
  if (action !== "discard" && !options.person) throw new ReviewError(`inbox ${action} needs --person <name>`);
  if (action === "discard" && options.person) throw new ReviewError("inbox discard takes no --person");
  const decision = await decide(
    await openReviewQueue(context),
    { action, ids, person: options.person ?? null, reviewer: options.reviewer ? parseReviewer(options.reviewer) : null, by: "cli" },
    Date.now(),
  );
  process.stdout.write(options.json ? `${JSON.stringify(decision, null, 2)}\n` : `${printableLines(describeDecision(decision))}\n`);
}

function describeDecision(decision: ReviewDecision): string {
  const faces = `${decision.faces.length} face(s)`;
  if (decision.action === "discard") return `Discarded ${faces} (decision ${decision.id}).`;
  const what = decision.action === "assign" ? `as ${decision.person ?? ""}` : `as not ${decision.person ?? ""}`;
  return `Recorded ${faces} ${what} (decision ${decision.id}): the controller commits them to the face repository on its next pass.`;
}

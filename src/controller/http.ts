import express, { type Request } from "express";
import type { Logger } from "../log.js";
import { authorizeBearer } from "../http/bearer.js";
import { HttpError } from "../http/errors.js";
import { UnknownRevisionError } from "../dataset/source.js";
import { requestIdPattern } from "../records/requests.js";
import type { RunRecord } from "../records/runs.js";
import type { RunsApiStore } from "./ports.js";
import { isPushEvent, verifyWebhook, webhookEvent } from "./webhook.js";

/**
 * The controller's HTTP API: runs and run requests to read (GET /v1/runs, GET /v1/runs/{id}, GET
 * /v1/requests/{id}), runs to ask for (POST /v1/runs: Jenkins and people) and git servers' push
 * webhooks (POST /v1/webhook, signed). Asking checks that the commit exists, records the request in
 * the store's queue and wakes the loop; the loop decides. The reads show people's names, file paths
 * and who asked, so with a token configured they need it too; without one (a local `faceops up`,
 * bound to 127.0.0.1) they are open and asking is refused.
 */

export interface ControllerApiOptions {
  /** The runs and requests in the store (records/record-store.ts's RecordStore). */
  store: RunsApiStore;
  branch: string;
  /** Bearer token for POST /v1/runs and, when set, for the reads; empty: runs cannot be asked for over HTTP. */
  apiToken: string;
  /** Webhook secret; empty: webhooks are refused. */
  webhookSecret: string;
  /** Wakes the loop to look at the repository now. */
  kick: (trigger: string) => void;
  /** What the controller last saw in the repository. */
  watching?: () => unknown;
  /** The full commit id a revision names (fetching first for a remote); UnknownRevisionError when there is none. */
  resolveCommit: (revision: string) => Promise<string>;
  log: Logger;
}

const maxWebhookBytes = 5_000_000;
const revisionPattern = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$/;

export function runSummary(run: RunRecord) {
  const last = run.attempts.at(-1);
  const best = run.attempts.filter((attempt) => attempt.result?.ok).map((attempt) => (attempt.result?.ok ? attempt.result.accuracy : 0));
  return {
    id: run.id,
    state: run.state,
    reason: run.reason,
    commit: run.commit,
    fingerprint: run.fingerprint,
    trigger: run.trigger,
    createdAt: run.createdAt,
    updatedAt: run.updatedAt,
    attempts: run.attempts.length,
    lastAttempt: last ? { number: last.number, state: last.state } : null,
    bestAccuracy: best.length ? Math.max(...best) : null,
    version: run.promotion?.version ?? null,
    dataset: { photos: run.dataset.photos, labels: run.dataset.labels, rejected: run.dataset.rejected.length },
  };
}

export function controllerRouter(options: ControllerApiOptions): express.Router {
  const router = express.Router();

  router.get("/v1/runs", async (request, response) => {
    authorize(request, options.apiToken, "read");
    const limit = request.query.limit === undefined ? 50 : Number(request.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new HttpError(400, "invalid_limit", `limit must be an integer from 1 to 1000, received ${JSON.stringify(request.query.limit)}`);
    const runs = await options.store.listRuns();
    const requests = await options.store.listRequests();
    response.json({ watching: options.watching?.() ?? null, runs: runs.reverse().slice(0, limit).map(runSummary), requests: requests.reverse().slice(0, limit) });
  });

  router.get("/v1/requests/:id", async (request, response) => {
    authorize(request, options.apiToken, "read");
    const id = request.params.id;
    if (!requestIdPattern.test(id)) throw new HttpError(400, "invalid_request_id", `request ids look like 20261128T120000123Z-1a2b3c4d, received "${id.slice(0, 40)}"`);
    const found = await options.store.readRequest(id);
    if (!found) throw new HttpError(404, "request_not_found", `there is no run request ${id}`);
    response.json(found);
  });

  router.get("/v1/runs/:id", async (request, response) => {
    authorize(request, options.apiToken, "read");
    const id = request.params.id;
    if (!/^[0-9]{1,9}$/.test(id)) throw new HttpError(400, "invalid_run_id", `run ids are numbers, received "${id.slice(0, 40)}"`);
    const run = await options.store.readRun(id);
    if (!run) throw new HttpError(404, "run_not_found", `there is no run ${id}`);
    response.json({
      ...run,
      attempts: run.attempts.map((attempt) => ({ ...attempt, log: options.store.attemptLog(run.id, attempt.number) })),
    });
  });

  // Authorised before the body is parsed: a caller without the token learns nothing from our parser.
  router.post("/v1/runs", (request, _response, next) => {
    authorize(request, options.apiToken, "ask");
    next();
  }, express.json({ limit: "16kb", strict: true }), async (request, response) => {
    const body: unknown = request.body ?? {};
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "invalid_body", "the body must be a JSON object: {\"commit\"?: string, \"force\"?: boolean}");
    const { commit, force, ...rest } = body as Record<string, unknown>;
    const unknown = Object.keys(rest);
    if (unknown.length > 0) throw new HttpError(400, "invalid_body", `unknown field(s) ${unknown.join(", ")}; known: commit, force`);
    if (commit !== undefined && (typeof commit !== "string" || !revisionPattern.test(commit))) {
      throw new HttpError(400, "invalid_commit", `commit must be a commit id or a ref name, received ${JSON.stringify(commit).slice(0, 80)}`);
    }
    if (force !== undefined && typeof force !== "boolean") throw new HttpError(400, "invalid_force", `force must be true or false, received ${JSON.stringify(force).slice(0, 40)}`);
    const sha = commit === undefined ? null : await verifiedCommit(commit, options.resolveCommit);
    const recorded = await options.store.addRequest({ commit: commit ?? null, sha, force: force ?? false, by: request.ip ?? "unknown" });
    options.log.info({ request: recorded.id, commit: recorded.commit, sha, force: recorded.force, by: recorded.by }, "run requested");
    options.kick("api");
    response.status(202).location(`/v1/requests/${recorded.id}`).json({ accepted: true, request: recorded });
  });

  router.post("/v1/webhook", express.raw({ type: () => true, limit: maxWebhookBytes }), (request, response) => {
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
    if (!options.webhookSecret) throw new HttpError(403, "webhook_not_configured", "webhooks are off: set FACEOPS_WEBHOOK_SECRET or controller.webhookSecretFile");
    const verdict = verifyWebhook(request.headers, body, options.webhookSecret);
    if (!verdict.ok) {
      options.log.warn({ reason: verdict.reason, from: request.ip }, "webhook refused");
      throw new HttpError(401, "invalid_signature", verdict.reason);
    }
    const event = webhookEvent(request.headers);
    if (event === "ping") {
      response.json({ accepted: true, event });
      return;
    }
    if (!isPushEvent(event)) {
      response.status(202).json({ accepted: false, event, reason: "only push events trigger a run" });
      return;
    }
    let payload: { ref?: unknown; after?: unknown };
    try {
      payload = JSON.parse(body.toString("utf8")) as { ref?: unknown; after?: unknown };
    } catch {
      throw new HttpError(400, "invalid_json", "the push event body is not JSON");
    }
    const watched = `refs/heads/${options.branch}`;
    if (payload.ref !== watched) {
      response.status(202).json({ accepted: false, event, reason: `a push to ${String(payload.ref)}; faceops watches ${watched}` });
      return;
    }
    options.log.info({ sender: verdict.sender, commit: payload.after }, "push webhook received");
    options.kick("webhook");
    response.status(202).json({ accepted: true, event, commit: typeof payload.after === "string" ? payload.after : null });
  });

  return router;
}

/** The commit a run request names, checked before the request is accepted. */
async function verifiedCommit(revision: string, resolve: (revision: string) => Promise<string>): Promise<string> {
  try {
    return await resolve(revision);
  } catch (error) {
    if (error instanceof UnknownRevisionError) throw new HttpError(422, "unknown_commit", `no run was requested: ${error.message}`);
    throw new HttpError(503, "source_unavailable", `no run was requested: the watched repository cannot be read now (${(error as Error).message}); try again later`, { "Retry-After": "30" });
  }
}

/** Asking for a run always needs the token (403 when none is configured); reading needs it only when one is configured. */
function authorize(request: Request, token: string, purpose: "ask" | "read"): void {
  authorizeBearer(request, token, { required: purpose === "ask", refusal: "runs cannot be requested over HTTP" });
}

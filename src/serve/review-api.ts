import express, { type Request } from "express";
import { authorizeBearer } from "../http/bearer.js";
import { HttpError } from "../http/errors.js";
import type { Logger } from "../log.js";
import { parseReviewer, ReviewError, validatePerson, type ReviewAction, type ReviewDecisions } from "../review/decisions.js";
import { faceIdPattern, InboxError, type Inbox } from "../review/inbox.js";
import { decide, publicGroup, waitingGroups, type ReviewQueue } from "../review/queue.js";
import type { Clock } from "../util/clock.js";
import type { ModelSlot } from "./model-slot.js";

/**
 * Review over HTTP, for the web page and tools: GET /v1/inbox (the waiting faces in groups), GET
 * /v1/inbox/faces/:id/crop (the crop the model saw) and POST /v1/inbox/assign|not|discard. The
 * inbox holds faces, personal data, so every route needs the API token, and without one configured
 * review is refused with how to set one. Faces are grouped at the open-set threshold of the model in
 * service. Decisions are recorded for the controller to commit (review/decisions.ts), each in the
 * audit log with the caller's address.
 */

export interface ReviewApiOptions {
  inbox: Inbox;
  decisions: ReviewDecisions;
  slot: ModelSlot;
  apiToken: string;
  clock: Clock;
  log: Logger;
  /** A decision was recorded (`faceops up` wakes its review committer). */
  onDecision?: () => void;
}

const actions: readonly ReviewAction[] = ["assign", "not", "discard"];

export function reviewRouter(options: ReviewApiOptions): express.Router {
  const router = express.Router();
  const authorize = (request: Request) => authorizeBearer(request, options.apiToken, { required: true, refusal: "review needs the API token (the inbox holds faces)" });
  const queue = (): ReviewQueue => {
    const linkDistance = options.slot.model?.predictor.maxDistance;
    if (linkDistance === undefined) throw new HttpError(503, "model_not_ready", "no model is loaded yet: faces are grouped at its open-set threshold", { "Retry-After": "5" });
    return { inbox: options.inbox, decisions: options.decisions, linkDistance: linkDistance ?? 2 };
  };

  router.get("/v1/inbox", async (request, response) => {
    authorize(request);
    const groups = await waitingGroups(queue());
    response.set("Cache-Control", "no-store").json({ groups: groups.map(publicGroup) });
  });

  router.get("/v1/inbox/faces/:id/crop", async (request, response) => {
    authorize(request);
    const id = request.params.id ?? "";
    if (!faceIdPattern.test(id)) throw new HttpError(400, "invalid_face_id", `face ids look like f20261204T101500123Za1b2c3d4, received "${id.slice(0, 40)}"`);
    const crop = await options.inbox.readCrop(id).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") throw new HttpError(404, "face_not_found", `face ${id} is not in the inbox`);
      throw error;
    });
    response.set("Cache-Control", "no-store").type("image/jpeg").send(crop);
  });

  for (const action of actions) {
    router.post(`/v1/inbox/${action}`, (request, _response, next) => {
      authorize(request);
      next();
    }, express.json({ limit: "64kb", strict: true }), async (request, response) => {
      const body = decisionBody(request.body, action);
      try {
        const decision = await decide(queue(), { action, ids: body.ids, person: body.person, reviewer: body.reviewer, by: request.ip ?? "unknown" }, options.clock.now());
        options.log.info({ decision: decision.id, action, faces: decision.faces.length }, "review decision recorded");
        options.onDecision?.();
        response.status(action === "discard" ? 200 : 202).json({ decision });
      } catch (error) {
        if (error instanceof ReviewError || error instanceof InboxError) throw new HttpError(409, "review_conflict", error.message);
        throw error;
      }
    });
  }
  return router;
}

function decisionBody(body: unknown, action: ReviewAction): { ids: string[]; person: string | null; reviewer: ReturnType<typeof parseReviewer> | null } {
  const shape = action === "discard" ? '{"ids": [group or face ids]}' : `{"ids": [${action === "not" ? "face ids" : "group or face ids"}], "person": "<name>", "reviewer"?: "Name <email>"}`;
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpError(400, "invalid_body", `the body must be a JSON object: ${shape}`);
  const { ids, person, reviewer, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw new HttpError(400, "invalid_body", `unknown field(s) ${unknown.join(", ")}; the body is ${shape}`);
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > 1000 || !ids.every((id) => typeof id === "string")) throw new HttpError(400, "invalid_ids", `ids must be a list of 1 to 1000 group or face ids; the body is ${shape}`);
  if (action === "discard" ? person !== undefined : typeof person !== "string") {
    throw new HttpError(400, "invalid_person", action === "discard" ? "discard names no person" : `${action} needs "person", a name as its folder in the face repository`);
  }
  if (reviewer !== undefined && typeof reviewer !== "string") throw new HttpError(400, "invalid_reviewer", 'reviewer must be "Name <email>"');
  return {
    ids,
    person: typeof person === "string" ? checked("invalid_person", () => validatePerson(person)) : null,
    reviewer: typeof reviewer === "string" ? checked("invalid_reviewer", () => parseReviewer(reviewer)) : null,
  };
}

/** A ReviewError from checking one field of the body, as a 400 naming the field. */
function checked<T>(code: string, check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof ReviewError) throw new HttpError(400, code, error.message);
    throw error;
  }
}

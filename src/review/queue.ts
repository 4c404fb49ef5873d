import { groupFaces, groupIdPattern, type FaceGroup } from "./group.js";
import { faceIdPattern, type Inbox } from "./inbox.js";
import { ReviewError, type ReviewAction, type ReviewDecision, type ReviewDecisions, type Reviewer } from "./decisions.js";

/**
 * The review queue as reviewers see it, for the CLI and the HTTP API alike: the inbox's faces that no
 * pending decision claims, in groups, and decisions taken on groups or single faces.
 */

export interface ReviewQueue {
  inbox: Inbox;
  decisions: ReviewDecisions;
  /** Faces this near are grouped: the open-set threshold of the model in service. */
  linkDistance: number;
}

/** Faces that wait for review, grouped; the largest group first. */
export async function waitingGroups(queue: ReviewQueue): Promise<FaceGroup[]> {
  const claimed = await queue.decisions.claimedFaces();
  const faces = (await queue.inbox.list()).filter((face) => !claimed.has(face.id));
  return groupFaces(faces, queue.linkDistance);
}

/**
 * The faces named by group ids and face ids, each once, oldest first. A group id names exactly the
 * faces listed with it: once the group has changed (a face came or went), it no longer resolves, so
 * a reviewer never assigns a face they did not see.
 */
export function resolveFaceIds(ids: readonly string[], groups: readonly FaceGroup[], options: { groups: boolean }): string[] {
  if (ids.length === 0) throw new ReviewError("name at least one face or group");
  const waiting = new Map(groups.flatMap((group) => group.faces.map((face) => [face.id, face] as const)));
  const faces = new Set<string>();
  for (const id of ids) {
    if (groupIdPattern.test(id)) {
      if (!options.groups) throw new ReviewError(`"${id}" is a group: this action takes single faces (face ids start with "f")`);
      const group = groups.find((candidate) => candidate.id === id);
      if (!group) throw new ReviewError(`group ${id} is not in the inbox any more (a face came or went, or it was decided): list the inbox again`);
      for (const face of group.faces) faces.add(face.id);
    } else if (faceIdPattern.test(id)) {
      if (!waiting.has(id)) throw new ReviewError(`face ${id} is not waiting for review (discarded, decided, or too old)`);
      faces.add(id);
    } else {
      throw new ReviewError(`"${id}" is neither a face id nor a group id`);
    }
  }
  return [...faces].sort();
}

export interface DecisionRequest {
  action: ReviewAction;
  ids: readonly string[];
  person: string | null;
  reviewer: Reviewer | null;
  by: string;
}

/** Records a decision on waiting faces; discarded faces leave the inbox at once. */
export async function decide(queue: ReviewQueue, request: DecisionRequest, now: number): Promise<ReviewDecision> {
  const faces = resolveFaceIds(request.ids, await waitingGroups(queue), { groups: request.action !== "not" });
  const decision = await queue.decisions.record({ action: request.action, faces, person: request.person, reviewer: request.reviewer, by: request.by }, now);
  if (request.action === "discard") await queue.inbox.remove(faces);
  return decision;
}

/** A group as `faceops inbox list --json` and GET /v1/inbox answer it (a contract): no embedding. */
export function publicGroup(group: FaceGroup) {
  return {
    id: group.id,
    faces: group.faces.map((face) => ({
      id: face.id,
      capturedAt: face.capturedAt,
      modelVersion: face.modelVersion,
      answer: face.answer,
      distance: face.distance,
      reason: face.reason,
      score: face.score,
      margin: face.margin,
      box: face.box,
    })),
    nearest: group.nearest,
  };
}

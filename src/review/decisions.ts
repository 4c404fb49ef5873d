import { randomBytes } from "node:crypto";
import { appendFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { labelFromFolder } from "../dataset/folder-layout.js";
import { readdirIfExists, readJsonOr, writeJsonAtomic } from "../store/files.js";
import { sortableTime } from "../util/sortable-time.js";
import { faceIdPattern } from "./inbox.js";

/**
 * Review decisions: what a reviewer said about inbox faces, kept in the store until acted on. A
 * decision is a record written atomically, pending until the controller (which holds the repository
 * credentials) commits its faces, level-triggered like run requests: a controller that restarts finds
 * every pending decision again, and a decision names the commit it made so it is never made twice.
 * Discarding needs no repository and is done at once. Every action is appended to the audit log.
 */

/** assign: these faces are `person`; not: these faces are not `person` (hard negatives); discard: keep none. */
export type ReviewAction = "assign" | "not" | "discard";

/** pending: to be committed; committed: in the repository (`commit`); failed: `reason` says why; done: nothing to commit (discard). */
export type DecisionState = "pending" | "committed" | "failed" | "done";

export interface Reviewer {
  name: string;
  email: string;
}

export interface ReviewDecision {
  schemaVersion: 1;
  id: string;
  action: ReviewAction;
  /** Inbox face ids, oldest first. */
  faces: string[];
  /** The person the faces are (assign) or are not (not); null for discard. */
  person: string | null;
  /** Who decided, as the commit's author; null: the configured committer. */
  reviewer: Reviewer | null;
  /** Where the decision came from: "cli" or the client's address. */
  by: string;
  decidedAt: string;
  state: DecisionState;
  /** The decision's number in this store (1, 2, ...): a remote repository gets the branch faceops/review-<number>. */
  number: number;
  /** The commit and branch the faces went to, once committed. */
  commit: string | null;
  branch: string | null;
  reason: string | null;
  resolvedAt: string | null;
}

export class ReviewError extends Error {
  override readonly name = "ReviewError";
}

export const decisionIdPattern = /^r[0-9]{8}T[0-9]{9}Z[0-9a-f]{8}$/;

/** "Ada Lovelace <ada@example.com>" as a reviewer; the error names what is wrong. */
export function parseReviewer(text: string): Reviewer {
  const match = /^\s*([^<>\p{Cc}]+?)\s*<([^<>\s\p{Cc}]+@[^<>\s\p{Cc}]+)>\s*$/u.exec(text);
  if (!match) throw new ReviewError(`reviewer "${text}" is not of the form "Name <email>"`);
  return { name: match[1] as string, email: match[2] as string };
}

/** A person's name as a folder of the repository accepts it, and not one of faceops' own folders. */
export function validatePerson(person: string): string {
  const verdict = labelFromFolder(person);
  if ("problem" in verdict) throw new ReviewError(`person "${person}" cannot be a folder name: ${verdict.problem}`);
  if (verdict.label.includes("/")) throw new ReviewError(`person "${person}" cannot be a folder name: it contains a slash`);
  if (verdict.label.startsWith("_")) throw new ReviewError(`person "${person}" cannot be a folder name: names starting with "_" are faceops' own folders (_not/)`);
  return verdict.label;
}

export class ReviewDecisions {
  constructor(private readonly root: string) {}

  private get folder(): string {
    return join(this.root, "decisions");
  }

  private path(id: string): string {
    if (!decisionIdPattern.test(id)) throw new ReviewError(`"${id}" is not a review decision id`);
    return join(this.folder, `${id}.json`);
  }

  /** The append-only audit log: one JSON line per action (who, when, what, which faces). */
  get auditLog(): string {
    return join(this.root, "audit.log");
  }

  async record(decision: Pick<ReviewDecision, "action" | "faces" | "person" | "reviewer" | "by">, now: number): Promise<ReviewDecision> {
    if (decision.faces.length === 0) throw new ReviewError("a review decision needs at least one face");
    for (const face of decision.faces) if (!faceIdPattern.test(face)) throw new ReviewError(`"${face}" is not a face id`);
    if (decision.action === "discard" ? decision.person !== null : decision.person === null) {
      throw new ReviewError(decision.action === "discard" ? "discarding names no person" : `${decision.action} needs a person`);
    }
    const record: ReviewDecision = {
      schemaVersion: 1,
      number: (await this.list()).reduce((most, decision) => Math.max(most, decision.number ?? 0), 0) + 1,
      id: `r${sortableTime(now)}${randomBytes(4).toString("hex")}`,
      ...decision,
      person: decision.person === null ? null : validatePerson(decision.person),
      faces: [...decision.faces].sort(),
      decidedAt: new Date(now).toISOString(),
      state: decision.action === "discard" ? "done" : "pending",
      commit: null,
      branch: null,
      reason: null,
      resolvedAt: decision.action === "discard" ? new Date(now).toISOString() : null,
    };
    await writeJsonAtomic(this.path(record.id), record);
    await this.audit({ at: record.decidedAt, by: record.by, reviewer: record.reviewer, action: record.action, person: record.person, faces: record.faces, decision: record.id });
    return record;
  }

  async resolve(id: string, outcome: Pick<ReviewDecision, "state" | "commit" | "branch" | "reason">, now: number): Promise<ReviewDecision> {
    const record = await this.read(id);
    if (!record) throw new ReviewError(`there is no review decision ${id}`);
    const resolved: ReviewDecision = { ...record, ...outcome, resolvedAt: new Date(now).toISOString() };
    await writeJsonAtomic(this.path(id), resolved);
    await this.audit({ at: resolved.resolvedAt, by: "controller", action: `${record.action}:${outcome.state}`, decision: id, commit: outcome.commit, branch: outcome.branch, reason: outcome.reason });
    return resolved;
  }

  read(id: string): Promise<ReviewDecision | null> {
    return readJsonOr<ReviewDecision | null>(this.path(id), null);
  }

  /** Every decision, oldest first. */
  async list(): Promise<ReviewDecision[]> {
    const names = await readdirIfExists(this.folder);
    const decisions: ReviewDecision[] = [];
    for (const name of names.filter((entry) => entry.endsWith(".json")).sort()) {
      const id = name.slice(0, -".json".length);
      if (!decisionIdPattern.test(id)) continue;
      const record = await this.read(id);
      if (record) decisions.push(record);
    }
    return decisions;
  }

  /** Faces a pending or committed decision claims: they are no longer offered for review. */
  async claimedFaces(): Promise<Set<string>> {
    return new Set((await this.list()).filter((decision) => decision.state === "pending" || decision.state === "committed").flatMap((decision) => decision.faces));
  }

  private async audit(entry: Record<string, unknown>): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // One write per line, opened for append: lines from two processes never interleave within a line.
    await appendFile(this.auditLog, `${JSON.stringify(entry)}\n`, { flag: "a" });
  }
}

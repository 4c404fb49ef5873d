import { createHash } from "node:crypto";
import sharp from "sharp";
import { checkDataset, type CheckRequest } from "../dataset/check.js";
import type { Identity, NewFile } from "../dataset/git-writer.js";
import { strangersFolder } from "../dataset/manifest.js";
import type { GitSource } from "../dataset/source.js";
import type { ReviewDecision } from "./decisions.js";
import type { CapturedFace, Inbox } from "./inbox.js";

/**
 * A review decision as a commit to the face repository: each face's crop (on a border, see
 * trainingPhotoOf) under `<person>/` (assign) or `_not/<person>/` (not this person), named by the
 * hash of its bytes, with a message saying where
 * each face came from and an author who decided. The commit is a function of the decision alone (its
 * time is the decision's), so making it again after a crash gives the same commit, and a decision
 * already in the branch is recognised rather than committed twice. A local repository's branch is
 * moved to it; a remote repository gets a new branch, faceops/review-<number>, for a person to merge.
 */

export interface ReviewTarget {
  source: GitSource;
  /** The watched branch (or review.branch): the parent, and what a local repository moves. */
  branch: string;
  /** Whether the repository is a remote one (a branch is pushed) or local (the branch is moved). */
  remote: boolean;
  /** Who commits: faceops; the author is the reviewer when the decision names one. */
  committer: Identity;
}

export interface CommittedReview {
  commit: string;
  branch: string;
  /** Paths written, in the order of the decision's faces. */
  paths: string[];
  /** True when the decision was found already committed (a restart after the commit). */
  already: boolean;
  /** What the reviewer should know, e.g. that a new person needs more photos to be trained. */
  notices: string[];
}

/** Checks the commit before any branch moves; throws to refuse it (the dataset check would reject a file); answers notices. */
export type CommitCheck = (commit: string, paths: readonly string[]) => Promise<string[]>;

export async function commitDecision(decision: ReviewDecision, inbox: Inbox, target: ReviewTarget, check: CommitCheck): Promise<CommittedReview> {
  if (decision.action === "discard" || decision.person === null) throw new Error(`decision ${decision.id} (${decision.action}) has nothing to commit`);
  const faces: Array<{ face: CapturedFace; bytes: Buffer }> = [];
  for (const id of decision.faces) {
    const face = await inbox.read(id);
    if (!face) throw new Error(`face ${id} of decision ${decision.id} is no longer in the inbox`);
    faces.push({ face, bytes: await trainingPhotoOf(await inbox.readCrop(id)) });
  }
  const folder = decision.action === "assign" ? decision.person : `${strangersFolder}/${decision.person}`;
  const files: NewFile[] = faces.map(({ bytes }) => ({ path: `${folder}/${createHash("sha256").update(bytes).digest("hex").slice(0, 16)}.jpg`, bytes }));
  const paths = files.map((file) => file.path);
  const { source } = target;
  await source.fetch();
  const tip = await source.resolveBranch(target.branch);
  const branch = target.remote ? `faceops/review-${decision.number}` : target.branch;
  const writer = source.openWriter();

  // Already done: a remote branch of this decision exists, or the local branch holds its commit.
  if (target.remote) {
    const pushed = await source.resolveBranch(branch).catch(() => null);
    if (pushed) return { commit: pushed, branch, paths, already: true, notices: [] };
  } else {
    const found = await source.findCommitWithTrailer(tip, decisionTrailer, decision.id);
    if (found) return { commit: found, branch, paths, already: true, notices: [] };
  }
  const commit = await writer.commitFiles({
    parent: tip,
    files,
    message: commitMessage(decision, faces.map(({ face }) => face), paths),
    author: decision.reviewer ?? target.committer,
    committer: target.committer,
    time: new Date(decision.decidedAt),
  });
  const notices = await check(commit, paths);
  if (target.remote) await writer.pushBranch(commit, branch);
  else await writer.advanceBranch(branch, commit, tip);
  return { commit, branch, paths, already: false, notices };
}

export const decisionTrailer = "Faceops-Review";

export function commitMessage(decision: ReviewDecision, faces: readonly CapturedFace[], paths: readonly string[]): string {
  const count = `${faces.length} face${faces.length === 1 ? "" : "s"}`;
  const subject = decision.action === "assign" ? `faceops: ${count} of ${decision.person ?? ""}, reviewed` : `faceops: ${count} that ${faces.length === 1 ? "is" : "are"} not ${decision.person ?? ""}, reviewed`;
  const who = decision.reviewer ? `${decision.reviewer.name} <${decision.reviewer.email}>` : `a reviewer (${decision.by})`;
  const lines = faces.map((face, index) => {
    const distance = face.distance === null ? "" : ` at distance ${face.distance.toFixed(3)}`;
    const nearest = face.nearest ? `; nearest known person ${face.nearest.label} (${face.nearest.distance.toFixed(3)})` : "";
    return `- ${paths[index] ?? ""}: captured ${face.capturedAt} by model ${face.modelVersion}, answered "${face.answer}"${distance}${nearest}`;
  });
  return [subject, "", `Reviewed by ${who} on ${decision.decidedAt}; faces the service kept for review (serve.capture).`, "", ...lines, "", `${decisionTrailer}: ${decision.id}`, ""].join("\n");
}

/**
 * The check a review commit must pass before any branch moves: the dataset check faceops runs on
 * every commit, on the new commit, with every file of the decision accepted (as a photo of its
 * person, or of the strangers' folder).
 */
export function datasetCheckOfCommit(request: Omit<CheckRequest, "commit" | "onProgress">): CommitCheck {
  return async (commit, paths) => {
    const manifest = await checkDataset({ ...request, commit });
    // A new person with fewer photos than a label needs is not a bad photo: committed, trained once there are enough.
    const waiting = manifest.rejected.filter((file) => paths.includes(file.path) && file.reason === "label_too_small");
    const refused = manifest.rejected.filter((file) => paths.includes(file.path) && file.reason !== "label_too_small");
    if (refused.length > 0) {
      throw new ReviewCommitRefused(`the dataset check would reject ${refused.length} of the reviewed faces: ${refused.map((file) => `${file.path} (${file.reason}: ${file.message})`).join("; ")}`);
    }
    const accepted = new Set([...manifest.images, ...(manifest.strangers ?? []), ...waiting].map((image) => image.path));
    const missing = paths.filter((path) => !accepted.has(path));
    if (missing.length > 0) throw new ReviewCommitRefused(`the dataset check does not count ${missing.join(", ")} as photos`);
    const short = manifest.excludedLabels.filter((entry) => waiting.some((file) => file.path.startsWith(`${entry.label}/`)));
    return short.map((entry) => `"${entry.label}" has ${entry.photos} photo${entry.photos === 1 ? "" : "s"} now: a person is trained once they have ${request.dataset.minImagesPerLabel} (dataset.minImagesPerLabel)`);
  };
}

export class ReviewCommitRefused extends Error {
  override readonly name = "ReviewCommitRefused";
}

/**
 * The photo committed for a kept face: the crop the model saw, centred on mid-grey twice its size.
 * Training detects faces again in every photo, and on the tight crop alone the detector misses a
 * third of faces (4 of 12 LFW crops) and boxes the rest at the crop's edges; with the border it
 * found all 12, around the face, so training crops them as serving did. Nothing around the face
 * that the model did not see is added.
 */
export async function trainingPhotoOf(crop: Buffer): Promise<Buffer> {
  const { width = 0, height = 0 } = await sharp(crop).metadata();
  const border = { top: Math.round(height / 2), bottom: Math.round(height / 2), left: Math.round(width / 2), right: Math.round(width / 2) };
  return sharp(crop).extend({ ...border, background: "#808080" }).jpeg({ quality: 92 }).toBuffer();
}

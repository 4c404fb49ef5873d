import { createHash } from "node:crypto";
import { unitLength } from "../model/open-set.js";
import { decodeEmbedding, type CapturedFace } from "./inbox.js";

/**
 * Inbox faces grouped by who they probably are, so ten photos of one visitor are one suggestion: two
 * faces are linked when their embeddings (the served model's own feature space) are no further apart
 * than the link distance, the open-set threshold of the model in service, and a group is everything
 * linked, directly or through others (single linkage). Faces of different backbones are never linked.
 */

export interface FaceGroup {
  /** "g" and a hash of the member ids: it names exactly these faces, so it stops resolving when the group changes. */
  id: string;
  /** Oldest first. */
  faces: CapturedFace[];
  /** The known person nearest any face of the group, and how far; null when no face had one. */
  nearest: { label: string; distance: number } | null;
}

export const groupIdPattern = /^g[0-9a-f]{16}$/;

export function groupId(faceIds: readonly string[]): string {
  return `g${createHash("sha256").update([...faceIds].sort().join(",")).digest("hex").slice(0, 16)}`;
}

export function groupFaces(faces: readonly CapturedFace[], linkDistance: number): FaceGroup[] {
  if (!(linkDistance >= 0)) throw new RangeError(`the link distance must be 0 or more, received ${linkDistance}`);
  const vectors = faces.map((face) => unitLength(decodeEmbedding(face.embedding)));
  const parent = faces.map((_, index) => index);
  const root = (index: number): number => {
    let at = index;
    while (parent[at] !== at) at = parent[at] = parent[parent[at] as number] as number;
    return at;
  };
  for (let a = 0; a < faces.length; a++) {
    for (let b = a + 1; b < faces.length; b++) {
      if ((faces[a] as CapturedFace).backbone !== (faces[b] as CapturedFace).backbone) continue;
      if (distance(vectors[a] as Float32Array, vectors[b] as Float32Array) <= linkDistance) parent[root(b)] = root(a);
    }
  }
  const members = new Map<number, CapturedFace[]>();
  faces.forEach((face, index) => {
    const group = members.get(root(index)) ?? [];
    group.push(face);
    members.set(root(index), group);
  });
  const groups = [...members.values()].map((group) => {
    const sorted = [...group].sort((a, b) => a.id.localeCompare(b.id));
    const nearest = sorted.reduce<FaceGroup["nearest"]>((best, face) => (face.nearest && (!best || face.nearest.distance < best.distance) ? face.nearest : best), null);
    return { id: groupId(sorted.map((face) => face.id)), faces: sorted, nearest };
  });
  // The largest group first (the visitor seen most), then the oldest.
  return groups.sort((a, b) => b.faces.length - a.faces.length || (a.faces[0] as CapturedFace).id.localeCompare((b.faces[0] as CapturedFace).id));
}

function distance(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let sum = 0;
  for (let index = 0; index < a.length; index++) sum += ((a[index] as number) - (b[index] as number)) ** 2;
  return Math.sqrt(sum);
}

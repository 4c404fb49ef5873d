import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readdirIfExists } from "../store/files.js";
import { temporaryPath } from "../store/owner.js";
import { sortableTime } from "../util/sortable-time.js";

/**
 * The inbox: faces the service answered "unknown", or named with a small margin, kept for a person
 * to review (serve.capture, off by default). Each face is a folder named by its id, written whole
 * and then renamed into place, so a reader never sees half a face: `face.jpg` (the crop the model
 * saw), `face.json` (the answer and where it came from) and, only with `keepPhoto`, `photo.jpg`.
 * Bounded by count and by age, the oldest going first; every face removed for room is counted.
 * Faces are personal data: this is the only place the service keeps any, and only when asked to.
 */

/** Why a face was kept. */
export type CaptureReason = "unknown" | "low_margin";

export interface CapturedFace {
  id: string;
  capturedAt: string;
  /** The model version that answered. */
  modelVersion: string;
  reason: CaptureReason;
  /** The service's answer: "unknown" or the name it gave with a small margin. */
  answer: string;
  /** The answer's score and its lead over the second label (null with a single label). */
  score: number;
  margin: number | null;
  /** Distance to the nearest training photo, in the model's feature space. */
  distance: number | null;
  /** The nearest known person and how far, whatever the answer was. */
  nearest: { label: string; distance: number } | null;
  /** The face's box in the photo, in the photo's upright pixels. */
  box: { x: number; y: number; width: number; height: number } | null;
  /** The backbone the embedding comes from: faces are only grouped with faces of the same one. */
  backbone: string;
  /** The face's embedding (the backbone's features, as computed), little-endian float32, base64. */
  embedding: string;
  /** Whether the whole photo was kept too (serve.capture.keepPhoto). */
  hasPhoto: boolean;
}

export type NewFace = Omit<CapturedFace, "id" | "capturedAt" | "embedding" | "hasPhoto"> & { embedding: Float32Array };

export interface InboxLimits {
  maxItems: number;
  maxAgeDays: number;
}

/** Faces removed to keep the inbox within its limits. */
export interface Pruned {
  /** Oldest faces removed because the inbox was full. */
  evicted: number;
  /** Faces older than maxAgeDays. */
  expired: number;
}

/** Ids sort in the order faces were captured: the time to the millisecond, then a random part. */
export const faceIdPattern = /^f[0-9]{8}T[0-9]{9}Z[0-9a-f]{8}$/;

export function newFaceId(now: number): string {
  return `f${sortableTime(now)}${randomBytes(4).toString("hex")}`;
}

/** A face id's capture time, its characters 1..19 (sortableTime). */
const capturedStamp = (id: string) => id.slice(1, 20);

const dayMs = 86_400_000;

export class Inbox {
  /** The ids on disk, oldest first; read once, then kept as faces come and go. */
  private ids: string[] | null = null;

  constructor(
    readonly root: string,
    private readonly limits: InboxLimits,
  ) {
    if (!Number.isInteger(limits.maxItems) || limits.maxItems < 1) throw new RangeError(`the inbox's maxItems must be a whole number of 1 or more, received ${limits.maxItems}`);
    if (!(limits.maxAgeDays > 0)) throw new RangeError(`the inbox's maxAgeDays must be more than 0, received ${limits.maxAgeDays}`);
  }

  private get faces(): string {
    return join(this.root, "faces");
  }

  private folder(id: string): string {
    if (!faceIdPattern.test(id)) throw new InboxError(`"${id}" is not a face id`);
    return join(this.faces, id);
  }

  /** Keeps a face (and the photo, when given), then removes what the limits no longer allow. */
  async add(face: NewFace, crop: Uint8Array, photo: Uint8Array | null, now: number): Promise<{ id: string } & Pruned> {
    const id = newFaceId(now);
    const record: CapturedFace = { ...face, id, capturedAt: new Date(now).toISOString(), embedding: encodeEmbedding(face.embedding), hasPhoto: photo !== null };
    // The index is read before the face is in place, or the new face would be in it twice.
    const ids = await this.knownIds();
    await mkdir(this.faces, { recursive: true });
    const staging = await temporaryPath(join(this.faces, id), "new");
    try {
      await mkdir(staging);
      await writeFile(join(staging, "face.jpg"), crop);
      if (photo) await writeFile(join(staging, "photo.jpg"), photo);
      // No fsync: a face lost to a power cut costs nothing, and capture must not cost the service a disk flush per face.
      await writeFile(join(staging, "face.json"), `${JSON.stringify(record)}\n`);
      await rename(staging, join(this.faces, id));
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    ids.push(id);
    return { id, ...(await this.prune(now)) };
  }

  /** Removes faces beyond maxItems (oldest first) and older than maxAgeDays. */
  async prune(now: number): Promise<Pruned> {
    const oldestKept = sortableTime(now - this.limits.maxAgeDays * dayMs);
    let ids = await this.knownIds();
    const overLimit = (known: readonly string[]) => known.length > this.limits.maxItems || (known[0] !== undefined && capturedStamp(known[0]) < oldestKept);
    if (overLimit(ids)) {
      // Another process (a review, `faceops inbox discard`) may have removed faces this index still
      // lists: read the folder again before removing anything, so nothing is evicted for room that is free.
      this.ids = null;
      ids = await this.knownIds();
    }
    // Ids sort by capture time, so the expired faces are the first ones and eviction goes on from there.
    const expired = ids.filter((id) => capturedStamp(id) < oldestKept);
    const left = ids.length - expired.length;
    const evicted = ids.slice(expired.length, expired.length + Math.max(0, left - this.limits.maxItems));
    await this.removeIds([...expired, ...evicted]);
    return { evicted: evicted.length, expired: expired.length };
  }

  /** Every face kept, oldest first. A face removed meanwhile is left out. */
  async list(): Promise<CapturedFace[]> {
    this.ids = null;
    const faces: CapturedFace[] = [];
    for (const id of await this.knownIds()) {
      const face = await this.read(id);
      if (face) faces.push(face);
    }
    return faces;
  }

  async read(id: string): Promise<CapturedFace | null> {
    try {
      return JSON.parse(await readFile(join(this.folder(id), "face.json"), "utf8")) as CapturedFace;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw error;
    }
  }

  /** The crop the model saw, as kept. */
  readCrop(id: string): Promise<Buffer> {
    return readFile(join(this.folder(id), "face.jpg"));
  }

  /** Removes the faces named; answers how many were there. */
  async remove(ids: readonly string[]): Promise<number> {
    const known = new Set(await this.knownIds());
    const present = ids.filter((id) => known.has(id));
    await this.removeIds(present);
    return present.length;
  }

  private async removeIds(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    for (const id of ids) await rm(this.folder(id), { recursive: true, force: true });
    const gone = new Set(ids);
    this.ids = (this.ids ?? []).filter((id) => !gone.has(id));
  }

  private async knownIds(): Promise<string[]> {
    if (!this.ids) {
      const names = await readdirIfExists(this.faces);
      this.ids = names.filter((name) => faceIdPattern.test(name)).sort();
    }
    return this.ids;
  }
}

export class InboxError extends Error {
  override readonly name = "InboxError";
}

export function encodeEmbedding(vector: Float32Array): string {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString("base64");
}

export function decodeEmbedding(encoded: string): Float32Array {
  const bytes = Buffer.from(encoded, "base64");
  if (bytes.length % 4 !== 0) throw new InboxError(`an embedding of ${bytes.length} bytes is not a list of float32 values`);
  const vector = new Float32Array(bytes.length / 4);
  for (let index = 0; index < vector.length; index++) vector[index] = bytes.readFloatLE(index * 4);
  return vector;
}

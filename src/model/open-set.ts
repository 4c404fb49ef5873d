/**
 * Open set: "is this anyone the model knows?". A classifier's softmax always names one of its
 * labels, and its scores were unreliable on small sets; the distance from a photo's backbone vector
 * to the known people's is not. The rule: unit-length vectors (face-api's descriptors already
 * are), Euclidean distance to the nearest known person (by default to each person's mean
 * direction over their training photos, unaugmented; see OpenSetRule), and the answer `unknown`
 * when that distance exceeds `maxDistance`.
 *
 * `maxDistance` is the configured number (`openSet.maxDistance`, at training or serving time), or
 * else calibrated on strangers (stranger-calibration.ts: pseudo-strangers held out of the training
 * split, and the dataset's `_not/` photos), or with no stranger to calibrate on, on the training
 * references alone: the `calibrationQuantile` of each reference's leave-one-out distance to the
 * nearest other reference of the same person (the rule measured below). The test split is never
 * used to choose it, so the rejection rates measured on it are honest.
 *
 * Why calibrated rather than a fixed distance (bench/open-set-study.ts, lfw-min10, face-embedding,
 * 10 people held out of training, 3,246 references, 802 known probes, 276 strangers): distances
 * depend on the crop and the dataset. With our face crop the median distance is 0.23 for a known
 * person and 0.38 for a stranger, so the 0.5 quoted for face-api's own crops rejects no stranger at
 * all; the calibrated q0.98 (0.324 there) rejects 94.6% of strangers and 2.5% of known people, and
 * follows the data on other backbones, crops and datasets.
 */


/** Quantile of same-person leave-one-out distances among the references. */
export const calibrationQuantile = 0.98;
/** Unit vectors are never further apart than this: a threshold of 2 accepts everything. */
export const largestDistance = 2;

export type MaxDistanceSetting = "auto" | "off" | number;

/**
 * What a photo's distance to the known people is measured to:
 * - nearest-class-mean-distance (the default since issue 15): each person's mean direction, the
 *   unit-length mean of their training photos' unit vectors. One odd training photo (a profile, a
 *   mislabelled face) no longer lets strangers who resemble it in: on lfw-min10's open-set split
 *   (face-embedding-mirrored), calibrated on pseudo-strangers, it rejects 99.3% of strangers and
 *   1.0% of known probes, where the nearest photo rejected 92.8% and 1.1% (BENCHMARKS.md);
 * - nearest-reference-distance: the nearest single training photo (bundles made before).
 * A bundle records its rule and serving follows it, so older bundles answer as they always did.
 */
export type OpenSetRule = "nearest-reference-distance" | "nearest-class-mean-distance";
export const defaultOpenSetRule: OpenSetRule = "nearest-class-mean-distance";

/** The configuration's names for the rules (openSet.rule). */
export type OpenSetRuleSetting = "class-mean" | "nearest-photo";
export function openSetRule(setting: OpenSetRuleSetting): OpenSetRule {
  return setting === "class-mean" ? "nearest-class-mean-distance" : "nearest-reference-distance";
}

/** The known people as the open-set rule measures them (ReferenceSet or ClassMeans). */
export interface KnownFaces {
  readonly rule: OpenSetRule;
  readonly featureLength: number;
  /**
   * The nearest known person to `vector` (any length; it is normalised here) and the distance to
   * it; `exclude` leaves that reference (training photo) out, as if it had never been seen.
   */
  nearest(vector: Float32Array, exclude?: number): { label: number; distance: number };
  /**
   * Each reference's leave-one-out distance to its own person (people with a single reference have
   * none and are skipped): how far a new photo of a known person may be.
   */
  sameLabelDistances(): number[];
}

export interface OpenSetReference {
  /** Absent rule in a bundle means nearest-reference-distance, the only rule there was. */
  rule: OpenSetRule;
  maxDistance: number;
  /**
   * calibrated-on-strangers: chosen on pseudo-strangers (stranger-calibration.ts); calibrated: the
   * quantile rule on the training references alone; configured: set by the user.
   */
  source: "calibrated" | "configured" | "calibrated-on-strangers";
  /** The quantile calibrated on, when calibrated by the quantile rule. */
  quantile?: number;
  references: number;
  featureLength: number;
  /**
   * The two-level answer: a named answer nearer than this is `confident: true`, between it and
   * maxDistance `confident: false`. Absent in bundles made before it existed: every named answer
   * is then confident, as those bundles' answers always were.
   */
  confidentDistance?: number;
  /** How confidentDistance was chosen; off: set to maxDistance, so every named answer is confident. */
  confidentSource?: "calibrated" | "calibrated-on-strangers" | "configured" | "off";
  /** The calibration on strangers, when there were strangers to calibrate on. */
  calibration?: StrangerCalibration;
  /** The rates measured on the test split at the thresholds above. */
  test?: OpenSetTestRates;
}

/** What a bundle records of its calibration on strangers (BundleMetadata.openSet.calibration). */
export interface StrangerCalibration {
  method: "pseudo-strangers";
  /** met-target: the target was met within the known limit; known-limit: it could not be, the limit won. */
  rule: "met-target" | "known-limit";
  targetStrangerRejection: number;
  maxKnownRejection: number;
  confidentStrangerRejection: number;
  /** People held out as pseudo-strangers. */
  pseudoStrangers: number;
  /** Photos under `_not/` used as strangers (training split). */
  outsiderPhotos: number;
  /** Stranger photos and known probes measured at calibration. */
  strangerPhotos: number;
  knownProbes: number;
  maxDistance: number;
  confidentDistance: number;
  /** The rates at maxDistance on the calibration photos (the choice was made on them: optimistic). */
  strangerRejection: number;
  knownRejection: number;
  /** Share of known probes nearer than confidentDistance: named with confident: true. */
  knownConfident: number;
}

/** The rates on the test split at the thresholds in force (see measureOnTest). */
export interface OpenSetTestRates {
  knownPhotos: number;
  knownRejection: number | null;
  /** Share of known test photos answered with confident: true. */
  knownConfident: number | null;
  strangerPhotos: number;
  strangerRejection: number | null;
}

export class ReferenceSet implements KnownFaces {
  readonly rule = "nearest-reference-distance";

  private constructor(
    /** References one after another, each of unit length. */
    readonly vectors: Float32Array,
    readonly featureLength: number,
    /** The label index of each reference. */
    readonly labels: Int32Array,
  ) {}

  static fromVectors(vectors: readonly Float32Array[], labels: readonly number[], featureLength: number): ReferenceSet {
    if (vectors.length !== labels.length) throw new RangeError(`${vectors.length} reference vectors but ${labels.length} labels`);
    const flat = new Float32Array(vectors.length * featureLength);
    vectors.forEach((vector, index) => {
      if (vector.length !== featureLength) throw new RangeError(`reference ${index} has ${vector.length} features, expected ${featureLength}`);
      flat.set(unitLength(vector), index * featureLength);
    });
    return new ReferenceSet(flat, featureLength, Int32Array.from(labels));
  }

  /** The bundle's file: a little-endian int32 count, then the label indices (int32), then the vectors (float32). */
  toBytes(): Uint8Array {
    const bytes = new Uint8Array(4 + this.labels.byteLength + this.vectors.byteLength);
    new DataView(bytes.buffer).setInt32(0, this.size, true);
    bytes.set(new Uint8Array(this.labels.buffer, this.labels.byteOffset, this.labels.byteLength), 4);
    bytes.set(new Uint8Array(this.vectors.buffer, this.vectors.byteOffset, this.vectors.byteLength), 4 + this.labels.byteLength);
    return bytes;
  }

  static fromBytes(bytes: Uint8Array, featureLength: number, classes: number): ReferenceSet {
    if (bytes.length < 4) throw new RangeError(`the reference file holds ${bytes.length} bytes, too few for its header`);
    const count = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getInt32(0, true);
    const expected = 4 + count * 4 + count * featureLength * 4;
    if (count < 0 || bytes.length !== expected) {
      throw new RangeError(`the reference file holds ${bytes.length} bytes, expected ${expected} for ${count} references of ${featureLength} features`);
    }
    const copy = new Uint8Array(bytes.length - 4);
    copy.set(bytes.subarray(4));
    const labels = new Int32Array(copy.buffer, 0, count);
    const bad = labels.findIndex((label) => label < 0 || label >= classes);
    if (bad >= 0) throw new RangeError(`reference ${bad} has label index ${labels[bad]}, outside 0..${classes - 1}`);
    return new ReferenceSet(new Float32Array(copy.buffer, count * 4, count * featureLength), featureLength, labels);
  }

  get size(): number {
    return this.labels.length;
  }

  /** The nearest reference to `vector` (any length; it is normalised here), skipping index `exclude`. */
  nearest(vector: Float32Array, exclude = -1): { index: number; label: number; distance: number } {
    const query = unitLength(vector);
    const length = this.featureLength;
    let best = -1;
    let bestDot = -Infinity;
    for (let reference = 0; reference < this.size; reference++) {
      if (reference === exclude) continue;
      const dot = dotAt(query, this.vectors, reference * length, length);
      if (dot > bestDot) {
        bestDot = dot;
        best = reference;
      }
    }
    if (best < 0) return { index: -1, label: -1, distance: largestDistance };
    // |a - b|^2 = 2 - 2 a.b for unit vectors; clamp the rounding below zero.
    return { index: best, label: this.labels[best] as number, distance: Math.sqrt(Math.max(0, 2 - 2 * bestDot)) };
  }

  /**
   * Each reference's distance to the nearest other reference of the same label (people with a
   * single reference have none and are skipped): how far a new photo of a known person may be.
   */
  sameLabelDistances(): number[] {
    const distances: number[] = [];
    const length = this.featureLength;
    for (let reference = 0; reference < this.size; reference++) {
      const vector = this.vectors.subarray(reference * length, (reference + 1) * length);
      let bestDot = -Infinity;
      for (let other = 0; other < this.size; other++) {
        if (other === reference || this.labels[other] !== this.labels[reference]) continue;
        const dot = dotAt(vector, this.vectors, other * length, length);
        if (dot > bestDot) bestDot = dot;
      }
      if (bestDot > -Infinity) distances.push(Math.sqrt(Math.max(0, 2 - 2 * bestDot)));
    }
    return distances;
  }
}

/**
 * The people's mean directions, built from the references (open-set rule
 * nearest-class-mean-distance). Leaving a reference out (`exclude`) takes it out of its person's
 * mean, so leave-one-out distances are honest; a person whose only reference is left out is
 * skipped for that query.
 */
export class ClassMeans implements KnownFaces {
  readonly rule = "nearest-class-mean-distance";
  readonly featureLength: number;
  /** Per label: the sum of its references' unit vectors (float64), and their count. */
  private readonly sums: Float64Array;
  private readonly counts: Int32Array;
  /** Per label: the unit-length mean, or zeros for a label without references. */
  private readonly means: Float32Array;

  constructor(private readonly references: ReferenceSet) {
    const length = (this.featureLength = references.featureLength);
    const classes = references.labels.reduce((most, label) => Math.max(most, label + 1), 0);
    this.sums = new Float64Array(classes * length);
    this.counts = new Int32Array(classes);
    for (let reference = 0; reference < references.size; reference++) {
      const label = references.labels[reference] as number;
      this.counts[label] = (this.counts[label] as number) + 1;
      for (let feature = 0; feature < length; feature++) this.sums[label * length + feature] = (this.sums[label * length + feature] as number) + (references.vectors[reference * length + feature] as number);
    }
    this.means = new Float32Array(classes * length);
    for (let label = 0; label < classes; label++) {
      const mean = unitLength(Float32Array.from(this.sums.subarray(label * length, (label + 1) * length)));
      this.means.set(mean, label * length);
    }
  }

  /** People with at least one reference. */
  get size(): number {
    return this.counts.filter((count) => count > 0).length;
  }

  nearest(vector: Float32Array, exclude = -1): { label: number; distance: number } {
    const query = unitLength(vector);
    const length = this.featureLength;
    const excludedLabel = exclude >= 0 ? (this.references.labels[exclude] as number) : -1;
    let best = -1;
    let bestDot = -Infinity;
    for (let label = 0; label < this.counts.length; label++) {
      const count = this.counts[label] as number;
      if (count === 0 || (label === excludedLabel && count < 2)) continue;
      const dot = label === excludedLabel ? this.dotWithout(query, label, exclude) : dotAt(query, this.means, label * length, length);
      if (dot > bestDot) {
        bestDot = dot;
        best = label;
      }
    }
    if (best < 0) return { label: -1, distance: largestDistance };
    return { label: best, distance: Math.sqrt(Math.max(0, 2 - 2 * bestDot)) };
  }

  sameLabelDistances(): number[] {
    const distances: number[] = [];
    const length = this.featureLength;
    for (let reference = 0; reference < this.references.size; reference++) {
      const label = this.references.labels[reference] as number;
      if ((this.counts[label] as number) < 2) continue;
      const dot = this.dotWithout(this.references.vectors.subarray(reference * length, (reference + 1) * length), label, reference);
      distances.push(Math.sqrt(Math.max(0, 2 - 2 * dot)));
    }
    return distances;
  }

  /** The dot product of a unit query with `label`'s mean direction recomputed without reference `exclude`. */
  private dotWithout(query: Float32Array, label: number, exclude: number): number {
    const length = this.featureLength;
    let dot = 0;
    let norm = 0;
    for (let feature = 0; feature < length; feature++) {
      const value = (this.sums[label * length + feature] as number) - (this.references.vectors[exclude * length + feature] as number);
      dot += (query[feature] as number) * value;
      norm += value * value;
    }
    return norm > 0 ? dot / Math.sqrt(norm) : -1;
  }
}

/** The references as the rule measures them. */
export function knownFaces(references: ReferenceSet, rule: OpenSetRule): KnownFaces {
  return rule === "nearest-class-mean-distance" ? new ClassMeans(references) : references;
}

/** The dot product of `query` with the `length` values of `vectors` from `offset`. */
function dotAt(query: Float32Array, vectors: Float32Array, offset: number, length: number): number {
  let dot = 0;
  for (let feature = 0; feature < length; feature++) dot += (query[feature] as number) * (vectors[offset + feature] as number);
  return dot;
}

export function unitLength(vector: Float32Array): Float32Array {
  let sum = 0;
  for (const value of vector) sum += value * value;
  const norm = Math.sqrt(sum);
  if (norm === 0 || Math.abs(norm - 1) < 1e-6) return vector;
  return vector.map((value) => value / norm);
}

/** The q-quantile by linear interpolation between order statistics. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("the quantile of no values is undefined");
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const low = Math.floor(position);
  const high = Math.ceil(position);
  return (sorted[low] as number) + ((sorted[high] as number) - (sorted[low] as number)) * (position - low);
}

/** The threshold a training run records in its bundle. */
export function chooseMaxDistance(setting: MaxDistanceSetting, references: KnownFaces): Pick<OpenSetReference, "maxDistance" | "source" | "quantile"> {
  if (setting === "off") return { maxDistance: largestDistance, source: "configured" };
  if (typeof setting === "number") return { maxDistance: setting, source: "configured" };
  const distances = references.sameLabelDistances();
  // Nobody has two training photos: nothing tells how far a known face may be, so reject nobody.
  if (distances.length === 0) return { maxDistance: largestDistance, source: "calibrated", quantile: calibrationQuantile };
  return { maxDistance: quantile(distances, calibrationQuantile), source: "calibrated", quantile: calibrationQuantile };
}

/**
 * The confident distance in force when serving: "off" makes every named answer confident; a number
 * wins over the bundle's; a bundle without one (made before the two-level answer) calls every named
 * answer confident. Never beyond the threshold in force.
 */
export function effectiveConfidentDistance(setting: MaxDistanceSetting, recorded: OpenSetReference | undefined, maxDistance: number): number {
  if (setting === "off") return maxDistance;
  if (typeof setting === "number") return Math.min(setting, maxDistance);
  return Math.min(recorded?.confidentDistance ?? maxDistance, maxDistance);
}

/** The threshold in force when serving: a configured number or "off" wins over the bundle's. */
export function effectiveMaxDistance(setting: MaxDistanceSetting, recorded: OpenSetReference | undefined): number {
  if (setting === "off") return largestDistance;
  if (typeof setting === "number") return setting;
  return recorded?.maxDistance ?? largestDistance;
}

/** Human-friendly durations and sizes in faceops.yaml: "30s", "5m", "1h30m", "20MB", "1.5GiB". */

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Parses "250ms", "30s", "5m", "1h30m" or a bare number of milliseconds. Returns milliseconds. */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let consumed = 0;
  for (const match of trimmed.matchAll(part)) {
    total += Number(match[1]) * (durationUnits[match[2] as string] as number);
    consumed += match[0].length;
  }
  if (consumed === 0 || consumed !== trimmed.length) {
    throw new Error(`"${text}" is not a duration; use a number of milliseconds or e.g. "500ms", "30s", "5m", "1h30m"`);
  }
  return total;
}

const sizeUnits: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** Parses "20MB", "512KiB", "1.5GB" or a bare number of bytes. Returns bytes. */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = sizeUnits[(match?.[2] || "b").toLowerCase()];
  if (!match || unit === undefined) {
    throw new Error(`"${text}" is not a size; use a number of bytes or e.g. "512KiB", "20MB", "1GiB"`);
  }
  return Math.round(Number(match[1]) * unit);
}

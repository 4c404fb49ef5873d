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

/**
 * Node's setTimeout and setInterval store the delay in a signed 32-bit integer: a longer delay fires
 * at once (with a warning), so a "one month" interval would become a busy loop. No duration may pass it.
 */
export const maxTimerDelayMs = 2 ** 31 - 1;

/** Milliseconds as the shortest text parseDuration reads back: 1500 -> "1s500ms", 5400000 -> "1h30m". */
export function formatDuration(milliseconds: number): string {
  if (!Number.isFinite(milliseconds)) return String(milliseconds);
  if (milliseconds <= 0) return `${milliseconds}ms`;
  let rest = milliseconds;
  let text = "";
  for (const unit of ["d", "h", "m", "s"] as const) {
    const size = durationUnits[unit] as number;
    const whole = Math.floor(rest / size);
    if (whole > 0) {
      text += `${whole}${unit}`;
      rest -= whole * size;
    }
  }
  // Sub-millisecond parts are kept as written: bounds are whole, a received value may not be.
  if (rest > 0) text += `${Number(rest.toFixed(3))}ms`;
  return text;
}

/** Bytes as text parseByteSize reads back, in the largest unit that divides them: 20000000 -> "20MB", 1073741824 -> "1GiB". */
export function formatByteSize(bytes: number): string {
  if (!Number.isInteger(bytes) || bytes <= 0) return `${bytes}B`;
  for (const unit of ["GiB", "GB", "MiB", "MB", "KiB", "KB"] as const) {
    const size = sizeUnits[unit.toLowerCase()] as number;
    if (bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

/** What one benchmark hands bench/run.ts to print and write to bench/results/<name>.json. */
export interface BenchResult {
  name: string;
  /** Rows of the table printed and written: metric, value, unit, and a note. */
  rows: Array<{ metric: string; value: number; unit: string; note?: string }>;
  environment?: Record<string, unknown>;
}

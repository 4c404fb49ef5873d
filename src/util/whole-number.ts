/**
 * `text` as a whole number from `low` to `high`, or null: digits only, so no sign, decimal point,
 * exponent or space gets through ("1e2", "-1", " 3" and "1.0" are all null). For request
 * parameters and command-line flags, which each word their own error.
 */
export function wholeNumberIn(text: string, low: number, high: number): number | null {
  if (!/^\d+$/.test(text)) return null;
  const value = Number(text);
  return value >= low && value <= high ? value : null;
}

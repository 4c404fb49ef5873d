import { printable } from "./printable.js";

/**
 * Plain-text tables for terminal output: left-aligned text, right-aligned numbers. Cells are made
 * printable first (a file name's newline or escape sequence would break the table or the terminal),
 * so the columns are measured on what is shown.
 */
export function renderTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((row) => row.map((cell) => (typeof cell === "number" ? cell.toLocaleString("en-US") : printable(cell))));
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => typeof row[column] === "number"));
  const widths = headers.map((header, column) => Math.max(displayWidth(header), ...cells.map((row) => displayWidth(row[column] ?? ""))));
  const line = (values: readonly string[]) =>
    values
      .map((value, column) => {
        const padding = " ".repeat(Math.max(0, (widths[column] ?? 0) - displayWidth(value)));
        return numeric[column] ? padding + value : value + padding;
      })
      .join("  ")
      .trimEnd();
  return [line(headers), ...cells.map(line)].join("\n");
}

/** Terminal columns a string takes; combining marks take none (labels may be in any script). */
function displayWidth(text: string): number {
  return [...text.normalize("NFC")].filter((char) => !/\p{M}/u.test(char)).length;
}

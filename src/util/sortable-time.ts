/** A time as text that sorts as the time does, and is safe in a file name: "20261204T210512345Z". */
export function sortableTime(time: number): string {
  return new Date(time).toISOString().replace(/[-:.]/g, "");
}

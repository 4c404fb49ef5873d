/** How the CLI's summaries count the faces of a dataset's photos. */

/** "photos: 12 with one face, 1 with 2 faces, 1 with no face": the faces with photos, in order, then those without. */
export function renderFaceCounts(facesFound: Record<string, number>): string {
  const parts = Object.entries(facesFound)
    .map(([faces, photos]) => [Number(faces), photos] as const)
    .sort(([a], [b]) => (a === 0 ? 1 : b === 0 ? -1 : a - b))
    .map(([faces, photos]) => `${photos} with ${faces === 0 ? "no face" : faces === 1 ? "one face" : `${faces} faces`}`);
  return parts.length > 0 ? `photos: ${parts.join(", ")}` : "no photo";
}

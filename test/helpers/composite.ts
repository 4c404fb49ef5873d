import sharp from "sharp";

/**
 * Photos laid out in a grid of `tile`-pixel squares, `columns` wide, on grey, as one JPEG: the
 * photo of several faces the tests and the serve benchmark make from LFW photos (250x250 each).
 * Photo `index` sits at ((index % columns) * tile, floor(index / columns) * tile).
 */
export async function photoGrid(photos: readonly Buffer[], columns: number, tile = 250): Promise<Buffer> {
  const rows = Math.ceil(photos.length / columns);
  return sharp({ create: { width: columns * tile, height: rows * tile, channels: 3, background: "#808080" } })
    .composite(photos.map((input, index) => ({ input, left: (index % columns) * tile, top: Math.floor(index / columns) * tile })))
    .jpeg({ quality: 92 })
    .toBuffer();
}

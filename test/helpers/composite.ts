import { readFileSync } from "node:fs";
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

/** Where a photo was placed in a composite, in the composite's pixels. */
export interface Placement {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Two photos side by side, the first enlarged so that its face is the larger one: a photo of the
 * second photo's person that also shows someone else, more prominently (LFW photos, 250x250).
 */
export async function besideLarger(larger: Buffer, subject: Buffer): Promise<{ bytes: Buffer; larger: Placement; subject: Placement }> {
  const big: Placement = { x: 0, y: 0, width: 360, height: 360 };
  const small: Placement = { x: 380, y: 60, width: 250, height: 250 };
  const bytes = await sharp({ create: { width: 640, height: 360, channels: 3, background: "#808080" } })
    .composite([
      { input: await sharp(larger).resize(big.width, big.height).toBuffer(), left: big.x, top: big.y },
      { input: await sharp(subject).resize(small.width, small.height).toBuffer(), left: small.x, top: small.y },
    ])
    .jpeg({ quality: 92 })
    .toBuffer();
  return { bytes, larger: big, subject: small };
}

/** Whether the centre of a box lies within a placement. */
export function centredIn(box: { x: number; y: number; width: number; height: number }, placement: Placement): boolean {
  const centerX = box.x + box.width / 2;
  const centerY = box.y + box.height / 2;
  return centerX >= placement.x && centerX < placement.x + placement.width && centerY >= placement.y && centerY < placement.y + placement.height;
}

/** The middle 150x150 of an LFW photo (where LFW centres the face), as JPEG: a face crop like the service's. */
export function lfwFaceCrop(photo: string): Promise<Buffer> {
  return sharp(readFileSync(photo)).extract({ left: 50, top: 50, width: 150, height: 150 }).jpeg().toBuffer();
}

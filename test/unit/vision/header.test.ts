import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { readQuickHeader } from "../../../src/vision/header.js";
import { lfwRoot } from "../../helpers/lfw.js";

async function sharpView(bytes: Buffer) {
  const metadata = await sharp(bytes).metadata();
  return { format: metadata.format, width: metadata.autoOrient.width, height: metadata.autoOrient.height };
}

test("agrees with sharp on every orientation, for JPEG baseline and progressive", async () => {
  const base = sharp({ create: { width: 40, height: 24, channels: 3, background: "#345678" } });
  for (const progressive of [false, true]) {
    for (let orientation = 1; orientation <= 8; orientation++) {
      const bytes = await base.clone().jpeg({ progressive }).withMetadata({ orientation }).toBuffer();
      assert.deepEqual(readQuickHeader(bytes), await sharpView(bytes), `orientation ${orientation}, progressive ${progressive}`);
    }
  }
});

test("agrees with sharp on PNG, and leaves other formats to it", async () => {
  const base = sharp({ create: { width: 33, height: 17, channels: 4, background: "#34567880" } });
  const png = await base.clone().png().toBuffer();
  assert.deepEqual(readQuickHeader(png), await sharpView(png));
  for (const other of [await base.clone().webp().toBuffer(), await base.clone().gif().toBuffer(), await base.clone().tiff().toBuffer(), Buffer.from("text")]) {
    assert.equal(readQuickHeader(other), null);
  }
});

test("agrees with sharp on 300 real LFW photos", async () => {
  const people = readdirSync(lfwRoot, { withFileTypes: true }).filter((entry) => entry.isDirectory()).map((entry) => entry.name).sort();
  let compared = 0;
  for (const person of people.slice(0, 100)) {
    for (const name of readdirSync(join(lfwRoot, person)).sort().slice(0, 3)) {
      const bytes = readFileSync(join(lfwRoot, person, name));
      assert.deepEqual(readQuickHeader(bytes), await sharpView(bytes), name);
      compared++;
    }
  }
  assert.equal(compared, 300);
});

test("gives up (null) on truncated or malformed headers instead of guessing", () => {
  const jpeg = readFileSync(join(lfwRoot, "Bill_Gates", "Bill_Gates_0001.jpg"));
  for (const cut of [3, 10, 20, 100]) assert.equal(readQuickHeader(jpeg.subarray(0, cut)), null, `cut at ${cut}`);
  const broken = Buffer.from(jpeg);
  broken[2] = 0xff;
  broken[3] = 0xda; // start of scan before any frame header
  assert.equal(readQuickHeader(broken), null);
});

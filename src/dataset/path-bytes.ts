/**
 * Paths as bytes. git and Linux file systems accept any bytes in a name but "/" and NUL, while
 * faceops' labels and paths are text. Decoding bytes that are not UTF-8 the usual (lossy) way turns
 * every invalid byte into U+FFFD, so the folders "\xff" and "\xfe" both become "\ufffd": two people
 * merge into one label and one of them loses photos without a word. Here such bytes are detected
 * and shown escaped instead (`\xff`), so each name stays distinct and can be refused by name.
 */

/**
 * Length of the well-formed UTF-8 sequence starting at `index` (1 to 4), or 0 when the byte there
 * does not start one. The table of RFC 3629, section 4: no overlong forms, no surrogates, nothing
 * past U+10FFFF.
 */
function sequenceLength(bytes: Uint8Array, index: number): number {
  const lead = bytes[index] as number;
  const continuation = (offset: number, low = 0x80, high = 0xbf) => {
    const byte = bytes[index + offset];
    return byte !== undefined && byte >= low && byte <= high;
  };
  if (lead <= 0x7f) return 1;
  if (lead >= 0xc2 && lead <= 0xdf) return continuation(1) ? 2 : 0;
  if (lead === 0xe0) return continuation(1, 0xa0) && continuation(2) ? 3 : 0;
  if (lead === 0xed) return continuation(1, 0x80, 0x9f) && continuation(2) ? 3 : 0;
  if (lead >= 0xe1 && lead <= 0xef) return continuation(1) && continuation(2) ? 3 : 0;
  if (lead === 0xf0) return continuation(1, 0x90) && continuation(2) && continuation(3) ? 4 : 0;
  if (lead === 0xf4) return continuation(1, 0x80, 0x8f) && continuation(2) && continuation(3) ? 4 : 0;
  if (lead >= 0xf1 && lead <= 0xf3) return continuation(1) && continuation(2) && continuation(3) ? 4 : 0;
  return 0;
}

export function isUtf8(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; ) {
    const length = sequenceLength(bytes, index);
    if (length === 0) return false;
    index += length;
  }
  return true;
}

/** The bytes as text: well-formed UTF-8 decoded, every other byte as `\xNN`. Distinct bytes give distinct text. */
export function escapeInvalidUtf8(bytes: Uint8Array): string {
  let text = "";
  let start = 0;
  const flush = (end: number) => {
    if (end > start) text += Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString("utf8");
  };
  for (let index = 0; index < bytes.length; ) {
    const length = sequenceLength(bytes, index);
    if (length > 0) {
      index += length;
      continue;
    }
    flush(index);
    text += `\\x${(bytes[index] as number).toString(16).padStart(2, "0")}`;
    index += 1;
    start = index;
  }
  flush(bytes.length);
  return text;
}

/** A path's text: exact when its bytes are UTF-8, else escaped (and then not a name that exists). */
export function decodePath(bytes: Uint8Array): { text: string; utf8: boolean } {
  return isUtf8(bytes) ? { text: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"), utf8: true } : { text: escapeInvalidUtf8(bytes), utf8: false };
}

const cEscapes: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, "\\": 92 };

/**
 * The bytes of a path as git prints it with core.quotePath=true: as is, or in double quotes with
 * C escapes (\n, \", \\, and \ooo octal for every byte outside printable ASCII). The quoted form
 * is plain ASCII, so it survives any decoding on the way; this turns it back into the exact bytes.
 */
export function unquoteGitPath(text: string): Buffer {
  if (!text.startsWith('"')) return Buffer.from(text, "utf8");
  if (text.length < 2 || !text.endsWith('"')) throw new Error(`git printed a malformed quoted path: ${text}`);
  const bytes: number[] = [];
  const body = text.slice(1, -1);
  for (let index = 0; index < body.length; index++) {
    const character = body[index] as string;
    if (character !== "\\") {
      bytes.push(...Buffer.from(character, "utf8"));
      continue;
    }
    const next = body[index + 1] ?? "";
    const octal = /^[0-3][0-7]{2}/.exec(body.slice(index + 1, index + 4));
    if (octal) {
      bytes.push(Number.parseInt(octal[0], 8));
      index += 3;
    } else if (next in cEscapes) {
      bytes.push(cEscapes[next] as number);
      index += 1;
    } else {
      throw new Error(`git printed an unknown escape "\\${next}" in the path ${text}`);
    }
  }
  return Buffer.from(bytes);
}

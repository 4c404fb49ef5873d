import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { StringDecoder } from "node:string_decoder";
import { HttpError, badRequest } from "../http/errors.js";
import { streamRequestBody } from "./request-body.js";

/**
 * Request bodies in JSON, read without letting their shape block the event loop or the stack.
 *
 * `JSON.parse` on the main thread costs time in proportion to the text, all at once: ~0.4 s for a
 * legal 213 MB inference request (16 photos of 10 MB in base64), ~30 s for 20 MB of nested
 * brackets, and a stack overflow later for anything that walks a value nested thousands deep.
 * Almost all of a legal request's bytes are a few long strings (the photos), so the body is
 * scanned as it arrives, one chunk at a time:
 *
 * 1. Brackets outside strings are counted; deeper than `maxDepth` is refused at that byte, before
 *    anything is parsed. The scan knows strings and their escapes, so a "[" in a string is text.
 * 2. Each string is decoded piece by piece as it arrives (and checked for the control characters
 *    JSON forbids in strings); one longer than `longStringBytes` is joined when it closes (~10 ms
 *    for a 10 MB photo) and replaced in the rest of the text by a placeholder no client can forge
 *    (it ends in a random nonce drawn per body).
 * 3. What remains (the structure: keys, numbers, short strings) may hold at most
 *    `maxStructureBytes`; it is parsed at the end in well under a millisecond, and the long strings
 *    are put back in their places.
 *
 * So the loop is held for one chunk's scan or one photo's join at a time, the memory held is the
 * photos' text once (each chunk's bytes are dropped once decoded), and the result is exactly what
 * `JSON.parse` of the whole body gives. A worker thread would also free the loop, but would hold
 * the body twice (the worker's heap, then a structured clone back) and start a thread per body.
 */

export interface JsonBodyLimits {
  /** Largest body, in bytes. */
  maxBytes: number;
  /** Longest single string, in bytes as sent (quotes and escapes included). */
  maxStringBytes: number;
  /** Largest structure: the body less its long strings. */
  maxStructureBytes: number;
  /** Deepest nesting of arrays and objects. */
  maxDepth: number;
  /** Says what the body is for a person reading an error, e.g. "an inference request". */
  what: string;
}

/** Strings longer than this (as sent) are parsed apart from the structure. */
export const longStringBytes = 1024;

/**
 * Nesting an inference request never reaches: the deepest legal one is a nested tensor inside
 * `inputs` (depth 5 or so). Deep enough for any sane client, shallow enough that no code walking
 * the value (validation, JSON.stringify of an echoed id) can overflow the stack.
 */
export const maxJsonDepth = 32;

/** Room in an inference request beyond its photos' base64: names, shapes, parameters, outputs. */
export const inferenceOverheadBytes = 64 * 1024;

export const base64Length = (bytes: number) => 4 * Math.ceil(bytes / 3);

/**
 * The limits of an Open Inference Protocol infer request carrying at most `maxPhotos` photos of
 * `maxPhotoBytes` each as base64 strings. A string may exceed its photo's base64 by 1/32 for
 * escaped slashes ("\/", which PHP's json_encode writes by default; base64 has one "/" in 64).
 */
export function inferenceJsonLimits(maxPhotoBytes: number, maxPhotos: number): JsonBodyLimits {
  const photoText = base64Length(maxPhotoBytes);
  return {
    maxBytes: maxPhotos * photoText + inferenceOverheadBytes,
    maxStringBytes: photoText + Math.ceil(photoText / 32) + 2,
    maxStructureBytes: inferenceOverheadBytes,
    maxDepth: maxJsonDepth,
    what: "an inference request",
  };
}

/** Reads a JSON request body within `limits` (415 for another content type); the value it holds. */
export async function readJsonBody(request: IncomingMessage, limits: JsonBodyLimits): Promise<unknown> {
  const type = (request.headers["content-type"] ?? "application/json").toLowerCase();
  if (!type.startsWith("application/json")) {
    request.resume();
    throw new HttpError(415, "unsupported_media_type", `${limits.what} is JSON; received content type "${type}"`);
  }
  const parser = new JsonBodyParser(limits);
  await streamRequestBody(request, { maxBytes: limits.maxBytes, what: limits.what }, (chunk) => parser.push(chunk));
  return parser.finish();
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

// eslint-disable-next-line no-control-regex -- finding control characters is the point.
const controlCharacter = /[\u0000-\u001f]/;

/** The next `byte` at or after `from` in `chunk`, or chunk.length when there is none. */
function nextIndex(chunk: Buffer, byte: number, from: number): number {
  const found = chunk.indexOf(byte, from);
  return found === -1 ? chunk.length : found;
}

/** A body fed chunk by chunk (`push`), then `finish` for its value. Throws HttpError 400/413 as soon as a limit is crossed. */
export class JsonBodyParser {
  private depth = 0;
  /** Bytes of the body before the current chunk. */
  private offset = 0;
  private inString = false;
  private escaped = false;
  /** The string being read: its text so far (quotes included), decoded chunk by chunk so no single step is long. */
  private stringText: string[] = [];
  private stringDecoder = new StringDecoder("utf8");
  private stringBytes = 0;
  private stringStart = 0;
  private stringHasEscapes = false;
  private structure = Buffer.allocUnsafe(4096);
  private structureLength = 0;
  /** Each long string by its placeholder: "<long string #i>" followed by U+0000 and a nonce drawn for this body. */
  private readonly longStrings = new Map<string, string>();
  private readonly nonce = `\u0000${randomBytes(12).toString("hex")}`;
  /** Where each placeholder ends, in the structure and in the body, to name body positions in errors. */
  private readonly shifts: Array<{ structure: number; body: number }> = [];

  constructor(private readonly limits: JsonBodyLimits) {}

  push(chunk: Buffer): void {
    let position = 0;
    // Where the part of this chunk not yet copied (structure) or collected (string) begins.
    let pending = 0;
    let quoteAt = -1;
    let backslashAt = -1;
    while (position < chunk.length) {
      if (!this.inString) {
        const byte = chunk[position];
        if (byte === QUOTE) {
          this.appendStructure(chunk.subarray(pending, position));
          this.inString = true;
          this.stringStart = this.offset + position;
          pending = position;
        } else if (byte === OPEN_BRACKET || byte === OPEN_BRACE) {
          if (++this.depth > this.limits.maxDepth) {
            throw badRequest("json_too_deep", `${this.limits.what} nests arrays and objects deeper than ${this.limits.maxDepth} levels (at byte ${this.offset + position})`);
          }
        } else if ((byte === CLOSE_BRACKET || byte === CLOSE_BRACE) && this.depth > 0) {
          // Never below zero: stray closers (invalid JSON anyway) must not buy extra depth later.
          this.depth--;
        }
        position++;
        continue;
      }
      if (this.escaped) {
        this.escaped = false;
        position++;
        continue;
      }
      // Inside a string only a quote or a backslash matters: jump to the next of either.
      if (quoteAt < position) quoteAt = nextIndex(chunk, QUOTE, position);
      if (backslashAt < position) backslashAt = nextIndex(chunk, BACKSLASH, position);
      if (backslashAt < quoteAt) {
        this.escaped = true;
        this.stringHasEscapes = true;
        position = backslashAt + 1;
      } else if (quoteAt < chunk.length) {
        this.collectString(chunk.subarray(pending, quoteAt + 1));
        this.closeString();
        position = quoteAt + 1;
        pending = position;
      } else {
        position = chunk.length;
      }
    }
    if (this.inString) this.collectString(chunk.subarray(pending));
    else this.appendStructure(chunk.subarray(pending));
    this.offset += chunk.length;
  }

  finish(): unknown {
    if (this.inString) throw badRequest("bad_json", `${this.limits.what} is not valid JSON: it ends inside the string that starts at byte ${this.stringStart}`);
    let value: unknown;
    try {
      value = JSON.parse(this.structure.toString("utf8", 0, this.structureLength)) as unknown;
    } catch (error) {
      throw badRequest("bad_json", `${this.limits.what} is not valid JSON: ${this.inBodyTerms((error as Error).message)}`);
    }
    return this.longStrings.size === 0 ? value : this.restore(value);
  }

  private collectString(piece: Buffer): void {
    this.stringBytes += piece.length;
    if (this.stringBytes > this.limits.maxStringBytes) {
      throw new HttpError(413, "payload_too_large", `${this.limits.what} holds a string longer than ${this.limits.maxStringBytes} bytes, more than one photo needs (the string at byte ${this.stringStart})`);
    }
    const text = this.stringDecoder.write(piece);
    // JSON forbids control characters in strings; checked here, piece by piece, rather than by one JSON.parse at the end.
    if (controlCharacter.test(text)) throw badRequest("bad_json", `${this.limits.what} is not valid JSON: the string at byte ${this.stringStart} holds a control character`);
    this.stringText.push(text);
  }

  /**
   * A short string goes into the structure as it was sent. A long one is its text between the
   * quotes, joined in one step (~10 ms for a 10 MB photo); only a string with escapes ("\/" from
   * some encoders) goes through JSON.parse, which alone knows every escape.
   */
  private closeString(): void {
    const text = this.stringText.join("") + this.stringDecoder.end();
    const rawLength = this.stringBytes;
    const escapes = this.stringHasEscapes;
    this.stringText = [];
    this.stringBytes = 0;
    this.stringHasEscapes = false;
    this.inString = false;
    if (rawLength <= longStringBytes) {
      this.appendStructure(Buffer.from(text));
      return;
    }
    let value = text.slice(1, -1);
    if (escapes) {
      try {
        value = JSON.parse(text) as string;
      } catch (error) {
        throw badRequest("bad_json", `${this.limits.what} is not valid JSON: the string at byte ${this.stringStart}: ${(error as Error).message}`);
      }
    }
    const placeholder = `<long string #${this.longStrings.size}>${this.nonce}`;
    this.appendStructure(Buffer.from(JSON.stringify(placeholder)));
    this.longStrings.set(placeholder, value);
    this.shifts.push({ structure: this.structureLength, body: this.stringStart + rawLength });
  }

  private appendStructure(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const needed = this.structureLength + bytes.length;
    if (needed > this.limits.maxStructureBytes) {
      throw new HttpError(
        413,
        "payload_too_large",
        `${this.limits.what} is too large: apart from its strings longer than ${longStringBytes} bytes (the photos), it may hold ${this.limits.maxStructureBytes} bytes`,
      );
    }
    if (needed > this.structure.length) {
      const grown = Buffer.allocUnsafe(Math.min(Math.max(needed, this.structure.length * 2), this.limits.maxStructureBytes));
      this.structure.copy(grown, 0, 0, this.structureLength);
      this.structure = grown;
    }
    bytes.copy(this.structure, this.structureLength);
    this.structureLength = needed;
  }

  /** Puts each long string back where its placeholder is (in values and in keys). Depth is bounded, so recursion is safe. */
  private restore(value: unknown): unknown {
    if (typeof value === "string") return this.longStrings.get(value) ?? value;
    if (Array.isArray(value)) {
      for (let index = 0; index < value.length; index++) value[index] = this.restore(value[index]);
      return value;
    }
    if (typeof value === "object" && value !== null) {
      // Define, not assign: an own "__proto__" key from JSON.parse must stay a plain property.
      const restored: Record<string, unknown> = {};
      for (const [key, entry] of Object.entries(value)) {
        Object.defineProperty(restored, this.restore(key) as string, { value: this.restore(entry), enumerable: true, writable: true, configurable: true });
      }
      return restored;
    }
    return value;
  }

  /**
   * JSON.parse's message about the structure, with a position in it turned into the body's (a
   * quoted excerpt shows long strings as their placeholders, "<long string #i>").
   */
  private inBodyTerms(message: string): string {
    return message
      .replace(/ \(line \d+ column \d+\)/, "")
      .replace(/position (\d+)/, (_text, position: string) => `position ${this.bodyPosition(Number(position))}`);
  }

  private bodyPosition(structurePosition: number): number {
    let shift = { structure: 0, body: 0 };
    for (const candidate of this.shifts) {
      if (candidate.structure > structurePosition) break;
      shift = candidate;
    }
    return structurePosition - shift.structure + shift.body;
  }
}

import Busboy from "busboy";
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { HttpError } from "../http/errors.js";
import { payloadTooLarge, streamRequestBody } from "./request-body.js";

/**
 * The photos in a request: the raw body when it is sent as image/*, or every `image` file of a
 * multipart/form-data body. Size limits are enforced while reading, so an oversized upload is
 * refused after `maxBytes`, not after it has been buffered whole, and a malformed or cut-off body
 * is a 4xx, never an 'error' event nobody listens to.
 */

export interface UploadLimits {
  /** Largest body (raw) or file (multipart) accepted. */
  maxBytes: number;
  /** Most photos in one request. */
  maxFiles: number;
}

/**
 * Room in a multipart body beyond its photos' bytes: part headers, boundaries and small fields. A
 * browser's part header is ~150 bytes; 64 KiB leaves room for many without letting a body of fields
 * nobody reads grow without end.
 */
const multipartOverheadBytes = 64 * 1024;

/** Fields other than `image` are read and ignored; their values need not be kept. */
const ignoredFieldBytes = 1024;

export async function readUploadedImages(request: IncomingMessage, limits: UploadLimits): Promise<Buffer[]> {
  const type = (request.headers["content-type"] ?? "").toLowerCase();
  if (type.startsWith("image/")) return [await readRawBody(request, limits.maxBytes)];
  if (type.startsWith("multipart/form-data")) return readMultipart(request, limits);
  throw new HttpError(
    415,
    "unsupported_media_type",
    `send the photo as an image/* body or as multipart/form-data with "image" files; received content type "${type || "none"}"`,
  );
}

async function readRawBody(request: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await streamRequestBody(request, { maxBytes, what: "the upload" }, (chunk) => chunks.push(chunk));
  return Buffer.concat(chunks);
}

const badMultipart = (error: Error) => new HttpError(400, "bad_multipart", `the multipart body cannot be read: ${error.message}`);

/**
 * Busboy parses the body as the chunks are fed to it. Every stream it hands out gets an 'error'
 * listener: when the body ends before its closing boundary (or mid-file), busboy destroys the file
 * stream in progress with an error, and an 'error' nobody listens to ends the process.
 */
async function readMultipart(request: IncomingMessage, limits: UploadLimits): Promise<Buffer[]> {
  let parser: Busboy.Busboy;
  try {
    parser = Busboy({
      headers: request.headers,
      limits: { fileSize: limits.maxBytes, files: limits.maxFiles, fields: 20, fieldSize: ignoredFieldBytes, parts: limits.maxFiles + 20 },
    });
  } catch (error) {
    request.resume();
    throw badMultipart(error as Error);
  }
  const files: Buffer[] = [];
  // The first thing that went wrong wins; set from busboy's events, so TypeScript cannot follow it.
  let failure = null as Error | null;
  const fail = (error: Error) => (failure ??= error);
  const closed = new Promise<void>((resolve) => parser.once("close", resolve));

  parser.on("file", (field: string, stream: Readable) => {
    stream.on("error", (error: Error) => fail(badMultipart(error)));
    if (field !== "image" || failure) {
      stream.resume();
      return;
    }
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("limit", () => fail(payloadTooLarge("a photo in the multipart body", limits.maxBytes)));
    stream.on("end", () => files.push(Buffer.concat(chunks)));
  });
  parser.on("filesLimit", () => fail(new HttpError(413, "too_many_files", `at most ${limits.maxFiles} photos per request`)));
  parser.on("error", (error: Error) => fail(badMultipart(error)));

  const maxBytes = limits.maxBytes * limits.maxFiles + multipartOverheadBytes;
  try {
    await streamRequestBody(request, { maxBytes, what: "the multipart body" }, (chunk) => {
      if (failure) throw failure;
      parser.write(chunk);
    });
  } catch (error) {
    parser.destroy();
    throw error;
  }
  if (!failure) parser.end();
  else parser.destroy();
  await closed;
  if (failure) throw failure;
  if (files.length === 0) throw new HttpError(400, "no_image", 'the multipart body has no file in a field named "image"');
  return files;
}

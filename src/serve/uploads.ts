import Busboy from "busboy";
import type { Request } from "express";
import { HttpError } from "./errors.js";

/**
 * The photos in a request: the raw body when it is sent as image/*, or every `image` file of a
 * multipart/form-data body. Size limits are enforced while reading, so an oversized upload is
 * refused after `maxBytes`, not after it has been buffered whole.
 */

export interface UploadLimits {
  /** Largest body (raw) or file (multipart) accepted. */
  maxBytes: number;
  /** Most photos in one request. */
  maxFiles: number;
}

const tooLarge = (limit: number) => new HttpError(413, "payload_too_large", `the upload is larger than the limit of ${limit} bytes`);

export async function readUploadedImages(request: Request, limits: UploadLimits): Promise<Buffer[]> {
  const type = (request.headers["content-type"] ?? "").toLowerCase();
  if (type.startsWith("image/")) return [await readRawBody(request, limits.maxBytes)];
  if (type.startsWith("multipart/form-data")) return readMultipart(request, limits);
  throw new HttpError(
    415,
    "unsupported_media_type",
    `send the photo as an image/* body or as multipart/form-data with "image" files; received content type "${type || "none"}"`,
  );
}

function readRawBody(request: Request, maxBytes: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > maxBytes) {
    request.resume();
    return Promise.reject(tooLarge(maxBytes));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    request.on("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > maxBytes) {
        request.removeAllListeners("data");
        request.resume();
        reject(tooLarge(maxBytes));
        return;
      }
      chunks.push(chunk);
    });
    request.on("end", () => resolve(Buffer.concat(chunks)));
    request.on("error", reject);
  });
}

function readMultipart(request: Request, limits: UploadLimits): Promise<Buffer[]> {
  return new Promise((resolve, reject) => {
    let parser: Busboy.Busboy;
    try {
      parser = Busboy({ headers: request.headers, limits: { fileSize: limits.maxBytes, files: limits.maxFiles, fields: 20, parts: limits.maxFiles + 20 } });
    } catch (error) {
      reject(new HttpError(400, "bad_multipart", `the multipart body cannot be read: ${(error as Error).message}`));
      return;
    }
    const files: Array<Promise<Buffer>> = [];
    let failure: HttpError | null = null;
    parser.on("file", (field, stream) => {
      if (field !== "image") {
        stream.resume();
        return;
      }
      files.push(
        new Promise((resolveFile) => {
          const chunks: Buffer[] = [];
          stream.on("data", (chunk: Buffer) => chunks.push(chunk));
          stream.on("limit", () => (failure ??= tooLarge(limits.maxBytes)));
          stream.on("end", () => resolveFile(Buffer.concat(chunks)));
        }),
      );
    });
    parser.on("filesLimit", () => (failure ??= new HttpError(413, "too_many_files", `at most ${limits.maxFiles} photos per request`)));
    parser.on("error", (error: Error) => reject(new HttpError(400, "bad_multipart", `the multipart body cannot be read: ${error.message}`)));
    parser.on("close", () => {
      void Promise.all(files).then((buffers) => {
        if (failure) reject(failure);
        else if (buffers.length === 0) reject(new HttpError(400, "no_image", 'the multipart body has no file in a field named "image"'));
        else resolve(buffers);
      });
    });
    request.pipe(parser);
  });
}

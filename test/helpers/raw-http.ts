import { connect, type Socket } from "node:net";
import { waitUntil } from "./wait.js";

/**
 * HTTP/1.1 written byte for byte on a TCP socket, for requests no well-behaved client sends: a body
 * cut off before its end, a client that hangs up mid-upload, a body that never matches its headers.
 */

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends `head` (request line and headers, without the blank line; Connection: close is added) and the body, and reads the answer to the end. */
export async function rawRequest(url: string, head: string, body: Buffer | string = ""): Promise<RawResponse> {
  const socket = await open(url);
  const received: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => received.push(chunk));
  const ended = new Promise<void>((resolve, reject) => {
    socket.on("end", resolve);
    socket.on("close", () => resolve());
    socket.on("error", (error: NodeJS.ErrnoException) => (error.code === "ECONNRESET" || error.code === "EPIPE" ? resolve() : reject(error)));
  });
  socket.write(`${head}\r\nConnection: close\r\n\r\n`);
  socket.end(body);
  await ended;
  return parseResponse(Buffer.concat(received).toString("latin1"));
}

/**
 * Sends `head` and the first part of a body, waits until `ready()` says the server is reading it,
 * then resets the connection, as a client that gives up mid-upload does.
 */
export async function abortMidBody(url: string, head: string, part: Buffer | string, ready: () => Promise<boolean>): Promise<void> {
  const socket = await open(url);
  socket.on("error", () => undefined);
  socket.write(`${head}\r\n\r\n`);
  socket.write(part);
  await waitUntil("the server to be reading the body", ready, { timeoutMs: 5_000, everyMs: 10 });
  // Let the part written reach the server's parser before the reset.
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.resetAndDestroy();
}

function open(url: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) }, () => resolve(socket));
    socket.once("error", reject);
  });
}

function parseResponse(text: string): RawResponse {
  const split = text.indexOf("\r\n\r\n");
  if (split === -1) throw new Error(`no HTTP response in ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = "", ...lines] = text.slice(0, split).split("\r\n");
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1]);
  const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]));
  let body = text.slice(split + 4);
  if (headers["transfer-encoding"] === "chunked") body = dechunk(body);
  return { status, headers, body };
}

function dechunk(text: string): string {
  let body = "";
  for (let at = 0; at < text.length; ) {
    const lineEnd = text.indexOf("\r\n", at);
    const size = parseInt(text.slice(at, lineEnd), 16);
    if (!(size > 0)) break;
    body += text.slice(lineEnd + 2, lineEnd + 2 + size);
    at = lineEnd + 2 + size + 2;
  }
  return body;
}

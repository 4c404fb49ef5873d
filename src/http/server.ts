import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import type { Logger } from "../log.js";

/**
 * Listening, and stopping the way Kubernetes expects on every rollout: on SIGTERM stop accepting
 * connections, let in-flight requests finish, close idle keep-alive connections, and be gone
 * within the grace period (connections still open then are cut).
 */

export interface RunningServer {
  server: Server;
  url: string;
  /** Stops accepting, waits for in-flight requests (at most graceMs), then runs `onClosed`. */
  shutdown(reason: string): Promise<void>;
}

export interface ListenOptions {
  port: number;
  host: string;
  /** How long in-flight requests may take to finish once shutdown begins. */
  graceMs: number;
  log: Logger;
  /** What listens, as the log line says it: "<name> listening". */
  name: string;
  /** Runs after the last connection closed, before "shut down" is logged. */
  onClosed?: () => Promise<void>;
}

export async function listen(app: Express, options: ListenOptions): Promise<RunningServer> {
  const server = createServer(app);
  // Slow or stalled clients must not hold a connection (and its buffers) forever.
  server.requestTimeout = 60_000;
  server.headersTimeout = 20_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  options.log.info({ url }, `${options.name} listening`);

  let closing: Promise<void> | null = null;
  const shutdown = (reason: string): Promise<void> => {
    closing ??= (async () => {
      options.log.info({ reason, graceMs: options.graceMs }, "shutting down: finishing in-flight requests");
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = setTimeout(() => {
        options.log.warn("grace period over: closing the connections still open");
        server.closeAllConnections();
      }, options.graceMs);
      deadline.unref();
      await closed;
      clearTimeout(deadline);
      await options.onClosed?.();
      options.log.info("shut down");
    })();
    return closing;
  };
  return { server, url, shutdown };
}

import { pino, type Logger, type LevelWithSilent } from "pino";
import pretty from "pino-pretty";

export type { Logger };
export type LogFormat = "json" | "pretty";

export interface LoggerOptions {
  level: LevelWithSilent;
  /** Human-readable lines on a terminal, one JSON object per line everywhere else. */
  format: LogFormat;
  /**
   * A file descriptor or a stream. Defaults to stderr (fd 2) so that stdout stays free for command
   * output such as `--json`.
   */
  destination?: number | NodeJS.WritableStream;
  name?: string;
}

/**
 * Paths that may carry secrets anywhere in a log record. pino replaces them before serialising,
 * so a careless `log.info({ config })` cannot leak a token.
 */
const redactedPaths = [
  "password",
  "token",
  "secret",
  "authorization",
  "*.password",
  "*.token",
  "*.secret",
  "*.authorization",
  "*.webhookSecret",
  "*.*.password",
  "*.*.token",
  "*.*.secret",
  "*.*.webhookSecret",
  "headers.authorization",
  'headers["x-hub-signature-256"]',
  'headers["x-gitlab-token"]',
];

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? 2;
  const base = {
    level: options.level,
    name: options.name ?? "faceops",
    redact: { paths: redactedPaths, censor: "[redacted]" },
  };
  if (options.format === "pretty") {
    return pino(base, pretty({ destination, sync: true, colorize: true, ignore: "pid,hostname,name" }));
  }
  return pino(base, typeof destination === "number" ? pino.destination({ dest: destination, sync: true }) : destination);
}

/** The format a process should use when nobody asked: readable on a terminal, JSON otherwise. */
export function defaultLogFormat(stream: { isTTY?: boolean }): LogFormat {
  return stream.isTTY ? "pretty" : "json";
}

/** A logger that drops everything, for library callers and tests that do not care about logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/** Removes any user:password@ part from a URL before it is logged or stored. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/i, "$1[redacted]@");
}

/**
 * What a worker pool (pool.ts) and the workers it starts (task-host.ts) say to each other, and how
 * an error crosses the thread boundary. Both sides import this module; it depends on nothing.
 *
 * The conversation: the pool starts each worker with WorkerData; the worker answers `ready` with
 * what it loaded (or `init-failed`), then takes one `task` at a time and answers it with `done` or
 * `failed`, using the task's id. `log` lines may come at any time.
 */

/**
 * The tasks one kind of worker runs: for each task kind, what the request and the result carry.
 * Requests and results are structured-cloned; the big typed arrays in them are transferred.
 */
export type TaskMap = Record<string, { request: unknown; result: unknown }>;

export interface WorkerData<Init> {
  /** The worker's module, as a file URL. */
  entry: string;
  /** The worker module's own settings, handed to its setup function. */
  init: Init;
  /** The level of the main thread's logger: the worker does not format lines below it. */
  logLevel: string;
}

export interface TaskMessage<Tasks extends TaskMap = TaskMap, K extends keyof Tasks & string = keyof Tasks & string> {
  type: "task";
  id: number;
  kind: K;
  request: Tasks[K]["request"];
}

export type WorkerReply<Info = unknown> =
  | { type: "ready"; info: Info }
  | { type: "init-failed"; error: SerialisedError }
  | { type: "done"; id: number; result: unknown }
  | { type: "failed"; id: number; error: SerialisedError }
  /** One line of the worker's pino logger, as JSON. */
  | { type: "log"; line: string };

/** An error as plain data: its class name, message, stack, a machine-readable code and its cause. */
export interface SerialisedError {
  name: string;
  message: string;
  stack?: string;
  code?: string | number;
  cause?: SerialisedError;
}

export function serialiseError(error: unknown, depth = 0): SerialisedError {
  if (!(error instanceof Error)) return { name: "Error", message: String(error) };
  const serialised: SerialisedError = { name: error.name, message: error.message };
  if (error.stack) serialised.stack = error.stack;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" || typeof code === "number") serialised.code = code;
  // A few levels of cause are enough to explain a failure; a cycle must not recurse forever.
  if (error.cause !== undefined && depth < 4) serialised.cause = serialiseError(error.cause, depth + 1);
  return serialised;
}

/**
 * Rebuilds an error of one class from its serialised form, keyed by the class's `name`. A pool is
 * given the revivers of the errors its callers tell apart (e.g. ImageDecodeError with its code);
 * any other error comes back as the built-in class of that name, or as an Error that keeps the
 * name, the message and the code.
 */
export type ErrorRevivers = Record<string, (serialised: SerialisedError, options: ErrorOptions) => Error>;

const builtIns: ErrorRevivers = {
  Error: (serialised, options) => new Error(serialised.message, options),
  RangeError: (serialised, options) => new RangeError(serialised.message, options),
  TypeError: (serialised, options) => new TypeError(serialised.message, options),
  SyntaxError: (serialised, options) => new SyntaxError(serialised.message, options),
};

export function reviveError(serialised: SerialisedError, revivers: ErrorRevivers = {}): Error {
  const options: ErrorOptions = serialised.cause ? { cause: reviveError(serialised.cause, revivers) } : {};
  const revive = Object.hasOwn(revivers, serialised.name) ? revivers[serialised.name] : Object.hasOwn(builtIns, serialised.name) ? builtIns[serialised.name] : undefined;
  const error = revive ? revive(serialised, options) : new Error(serialised.message, options);
  if (!revive) error.name = serialised.name;
  if (serialised.code !== undefined && (error as { code?: unknown }).code === undefined) Object.assign(error, { code: serialised.code });
  // The worker's stack says where it failed, which is what someone reading the log needs.
  if (serialised.stack) error.stack = serialised.stack;
  return error;
}

/**
 * A typed array ready to be moved to another thread: the same view when it alone covers its buffer,
 * else a copy that does (a view into a larger buffer, such as Node's shared pool for small Buffers,
 * would hand over, and detach, everything else in it). Use the result in the message and put
 * `transfer` in its transfer list; the original must not be used afterwards when `moved` is true.
 */
export function transferable(view: Uint8Array): { view: Uint8Array; transfer: ArrayBuffer; moved: boolean };
export function transferable(view: Float32Array): { view: Float32Array; transfer: ArrayBuffer; moved: boolean };
export function transferable(view: Uint8Array | Float32Array): { view: Uint8Array | Float32Array; transfer: ArrayBuffer; moved: boolean } {
  const { buffer } = view;
  if (buffer instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buffer.byteLength) return { view, transfer: buffer, moved: true };
  // The typed-array constructors copy (a Buffer's slice() would not).
  const copy = view instanceof Float32Array ? new Float32Array(view) : new Uint8Array(view);
  return { view: copy, transfer: copy.buffer, moved: false };
}

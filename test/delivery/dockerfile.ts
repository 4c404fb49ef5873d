import { validate } from "dockerfile-utils";

/**
 * Just enough of a Dockerfile and .dockerignore reader for the delivery tests: instructions with
 * their flags and arguments (continuation lines joined, comments and parser directives dropped),
 * grouped into build stages, and Docker's own .dockerignore matching.
 */

export interface Instruction {
  /** Upper-cased, e.g. "COPY". */
  keyword: string;
  /** `--name=value` flags before the arguments, e.g. { from: "build" }. */
  flags: Record<string, string>;
  /** The arguments after the flags, as written (continuations joined with a space). */
  args: string;
  /** 1-based line of the keyword. */
  line: number;
}

export interface Stage {
  /** The FROM image reference, as written. */
  from: string;
  /** The stage's name (`AS name`), or null. */
  name: string | null;
  instructions: Instruction[];
}

export function parseDockerfile(text: string): Instruction[] {
  const lines = text.split(/\r?\n/);
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | null = null;
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index] ?? "";
    const trimmed = raw.trim();
    // Comments (and parser directives, which look like comments) vanish, also inside continuations.
    if (trimmed.startsWith("#")) continue;
    if (trimmed === "" && !pending) continue;
    const continued = /\\\s*$/.test(raw);
    const content = continued ? raw.replace(/\\\s*$/, "") : raw;
    pending = pending ? { text: `${pending.text} ${content.trim()}`, line: pending.line } : { text: content.trim(), line: index + 1 };
    if (continued) continue;
    instructions.push(toInstruction(pending.text, pending.line));
    pending = null;
  }
  if (pending) instructions.push(toInstruction(pending.text, pending.line));
  return instructions;
}

function toInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/s.exec(text);
  const keyword = (match?.[1] ?? "").toUpperCase();
  let rest = (match?.[2] ?? "").trim();
  const flags: Record<string, string> = {};
  for (;;) {
    const flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!flag?.[1]) break;
    flags[flag[1]] = flag[2] ?? "true";
    rest = rest.slice(flag[0].length);
  }
  return { keyword, flags, args: rest.trim(), line };
}

export function stagesOf(instructions: readonly Instruction[]): Stage[] {
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [from = "", as, name] = instruction.args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === "AS" && name ? name : null, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

/** The arguments of an exec-form instruction (`["a", "b"]`), or null for the shell form. */
export function execForm(args: string): string[] | null {
  if (!args.trimStart().startsWith("[")) return null;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((item) => typeof item === "string")) throw new Error(`not a JSON array of strings: ${args}`);
  return parsed;
}

/** `KEY=value` pairs of ENV, LABEL and ARG (quotes removed); ARG NAME without a default maps to null. */
export function assignments(args: string): Map<string, string | null> {
  const found = new Map<string, string | null>();
  const pattern = /([A-Za-z_][A-Za-z0-9_.-]*)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  for (const match of args.matchAll(pattern)) {
    const key = match[1] ?? "";
    const value = match[2];
    if (value === undefined) found.set(key, null);
    else found.set(key, value.startsWith('"') || value.startsWith("'") ? value.slice(1, -1) : value);
  }
  return found;
}

export interface LintProblem {
  severity: "error" | "warning" | "information" | "hint";
  line: number;
  message: string;
}

/** dockerfile-utils' validator with its default settings. */
export function lintDockerfile(text: string): LintProblem[] {
  const names = { 1: "error", 2: "warning", 3: "information", 4: "hint" } as const;
  return validate(text).map((diagnostic) => ({
    severity: names[diagnostic.severity ?? 1],
    line: diagnostic.range.start.line + 1,
    message: typeof diagnostic.message === "string" ? diagnostic.message : diagnostic.message.value,
  }));
}

/**
 * Docker's .dockerignore semantics (moby's patternmatcher): patterns are cleaned paths relative to
 * the context with `*`, `?`, `[...]` and `**`; `!` re-includes; the last matching pattern wins; a
 * pattern matching a parent folder matches everything below it.
 */
export function dockerignore(text: string): (path: string) => boolean {
  const patterns = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const exclusion = line.startsWith("!");
      const cleaned = clean(exclusion ? line.slice(1).trim() : line);
      return { exclusion, regex: patternRegex(cleaned) };
    });
  return (path: string) => {
    const file = clean(path);
    const parents = file.split("/").slice(0, -1);
    let matched = false;
    for (const pattern of patterns) {
      // Only an exception can undo a match, and only a plain pattern can make one.
      if (pattern.exclusion !== matched) continue;
      let match = pattern.regex.test(file);
      for (let depth = 1; !match && depth <= parents.length; depth++) match = pattern.regex.test(parents.slice(0, depth).join("/"));
      if (match) matched = !pattern.exclusion;
    }
    return matched;
  };
}

function clean(path: string): string {
  const parts: string[] = [];
  for (const part of path.replace(/^\/+/, "").split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return parts.join("/") || ".";
}

function patternRegex(pattern: string): RegExp {
  let source = "^";
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index] ?? "";
    if (char === "*") {
      if (pattern[index + 1] === "*") {
        index++;
        // `**/` matches no folder too; a trailing `**` anything.
        if (pattern[index + 1] === "/") {
          index++;
          source += "(?:.*/)?";
        } else {
          source += ".*";
        }
      } else {
        source += "[^/]*";
      }
    } else if (char === "?") {
      source += "[^/]";
    } else if (char === "[") {
      const end = pattern.indexOf("]", index + 1);
      if (end === -1) throw new Error(`unterminated character class in ${pattern}`);
      source += `[${pattern.slice(index + 1, end).replace(/^!/, "^")}]`;
      index = end;
    } else if (char === "\\") {
      index++;
      source += (pattern[index] ?? "").replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    } else {
      source += char.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
    }
  }
  return new RegExp(`${source}$`);
}

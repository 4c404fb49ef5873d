/**
 * Just enough of a Groovy reader to check a declarative Jenkinsfile's shape: comments and string
 * literals are found (and masked so their braces do not count), then `name(args) { ... }` blocks are
 * nested into a tree. Slashy strings and quotes inside a GString's `${...}` are not supported; the
 * Jenkinsfiles here use neither, and npm-groovy-lint parses them for real.
 */

export interface GroovyString {
  /** Offsets of the literal, quotes included. */
  start: number;
  end: number;
  quote: "'" | '"' | "'''" | '"""';
  /** The string's value (escapes resolved); a GString's `${...}` stays as written. */
  value: string;
}

export interface GroovyBlock {
  /** The identifier before `{` (or before its parenthesised arguments), "" for a bare closure. */
  name: string;
  /** The text between the parentheses, as written, or null. */
  args: string | null;
  /** Offset of the header's first character, of `{` and of the matching `}`. */
  start: number;
  open: number;
  close: number;
  children: GroovyBlock[];
}

export interface GroovySource {
  text: string;
  /** The text with comments and string contents blanked (quotes and newlines kept). */
  masked: string;
  strings: GroovyString[];
  blocks: GroovyBlock[];
}

export function readGroovy(text: string): GroovySource {
  const chars = [...text];
  const masked = [...text];
  const strings: GroovyString[] = [];
  const blank = (from: number, to: number) => {
    for (let index = from; index < to; index++) if (masked[index] !== "\n") masked[index] = " ";
  };
  let index = 0;
  while (index < chars.length) {
    const rest = text.slice(index, index + 3);
    if (rest.startsWith("//")) {
      const end = text.indexOf("\n", index);
      const stop = end === -1 ? text.length : end;
      blank(index, stop);
      index = stop;
    } else if (rest.startsWith("/*")) {
      const end = text.indexOf("*/", index + 2);
      const stop = end === -1 ? text.length : end + 2;
      blank(index, stop);
      index = stop;
    } else if (rest === "'''" || rest === '"""' || rest[0] === "'" || rest[0] === '"') {
      const quote = (rest === "'''" || rest === '"""' ? rest : rest[0]) as GroovyString["quote"];
      let cursor = index + quote.length;
      while (cursor < text.length && !text.startsWith(quote, cursor)) {
        if (text[cursor] === "\\") cursor++;
        else if (quote.length === 1 && text[cursor] === "\n") throw new Error(`unterminated string at offset ${index}`);
        cursor++;
      }
      if (cursor >= text.length) throw new Error(`unterminated string at offset ${index}`);
      const end = cursor + quote.length;
      strings.push({ start: index, end, quote, value: unescape(text.slice(index + quote.length, cursor)) });
      blank(index + quote.length, cursor);
      index = end;
    } else {
      index++;
    }
  }
  const maskedText = masked.join("");
  return { text, masked: maskedText, strings, blocks: nestBlocks(text, maskedText) };
}

function unescape(raw: string): string {
  const simple: Record<string, string> = { n: "\n", t: "\t", r: "\r", b: "\b", f: "\f", "\\": "\\", "'": "'", '"': '"', $: "$", "\n": "" };
  return raw.replace(/\\(u[0-9a-fA-F]{4}|[\s\S])/g, (_match, escaped: string) => (escaped.length === 5 ? String.fromCharCode(parseInt(escaped.slice(1), 16)) : (simple[escaped] ?? escaped)));
}

function nestBlocks(text: string, masked: string): GroovyBlock[] {
  const root: GroovyBlock = { name: "", args: null, start: 0, open: -1, close: masked.length, children: [] };
  const stack: GroovyBlock[] = [root];
  for (let index = 0; index < masked.length; index++) {
    const char = masked[index];
    if (char === "{") {
      const block = { ...header(text, masked, index), open: index, close: -1, children: [] };
      stack.at(-1)?.children.push(block);
      stack.push(block);
    } else if (char === "}") {
      const block = stack.pop();
      if (!block || block === root) throw new Error(`unbalanced } at line ${lineOf(text, index)}`);
      block.close = index;
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed { at line ${lineOf(text, stack.at(-1)?.open ?? 0)}`);
  return root.children;
}

function header(text: string, masked: string, open: number): { name: string; args: string | null; start: number } {
  let cursor = open - 1;
  while (cursor >= 0 && /\s/.test(masked[cursor] ?? "")) cursor--;
  let args: string | null = null;
  if (masked[cursor] === ")") {
    let depth = 0;
    const close = cursor;
    for (; cursor >= 0; cursor--) {
      if (masked[cursor] === ")") depth++;
      else if (masked[cursor] === "(" && --depth === 0) break;
    }
    args = text.slice(cursor + 1, close);
    cursor--;
    while (cursor >= 0 && /\s/.test(masked[cursor] ?? "")) cursor--;
  }
  const end = cursor + 1;
  while (cursor >= 0 && /[A-Za-z0-9_]/.test(masked[cursor] ?? "")) cursor--;
  const name = masked.slice(cursor + 1, end);
  return { name: /^[A-Za-z_]/.test(name) ? name : "", args, start: cursor + 1 };
}

export function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split("\n").length;
}

/** The block's body with its nested blocks cut out (masked text: code only). */
export function ownCode(source: GroovySource, block: GroovyBlock): string {
  let code = "";
  let cursor = block.open + 1;
  for (const child of block.children) {
    code += source.masked.slice(cursor, child.start);
    cursor = child.close + 1;
  }
  return code + source.masked.slice(cursor, block.close);
}

/** String literals inside a block. */
export function stringsIn(source: GroovySource, block: GroovyBlock): GroovyString[] {
  return source.strings.filter((literal) => literal.start > block.open && literal.end <= block.close);
}

/** The stage named `name` anywhere below `blocks`. */
export function findStage(blocks: readonly GroovyBlock[], name: string): GroovyBlock | undefined {
  for (const block of blocks) {
    if (block.name === "stage" && stageName(block) === name) return block;
    const nested = findStage(block.children, name);
    if (nested) return nested;
  }
  return undefined;
}

export function stageName(block: GroovyBlock): string | null {
  return /^\s*(['"])(.*)\1\s*$/.exec(block.args ?? "")?.[2] ?? null;
}

export function child(block: GroovyBlock | undefined, name: string): GroovyBlock | undefined {
  return block?.children.find((entry) => entry.name === name);
}

/** `NAME = 'value'` entries of an environment block (GString `${X}` resolved against earlier entries). */
export function environment(source: GroovySource, block: GroovyBlock | undefined): Map<string, string> {
  const found = new Map<string, string>();
  if (!block) return found;
  for (const literal of stringsIn(source, block)) {
    const name = /([A-Za-z_][A-Za-z0-9_]*)\s*=\s*$/.exec(source.masked.slice(block.open + 1, literal.start))?.[1];
    if (!name) continue;
    const value = literal.quote.startsWith('"') ? literal.value.replace(/\$\{(\w+)\}/g, (whole, key: string) => found.get(key) ?? whole) : literal.value;
    found.set(name, value);
  }
  return found;
}

export interface PipelineShape {
  /** The top-level stages' names, in order. */
  stages: readonly string[];
  /** Stages that must run only on main: `when { branch 'main' }`. */
  mainOnly?: readonly string[];
  /** Steps that `post { always { ... } }` must call. */
  postAlways?: readonly string[];
}

/**
 * Checks a declarative Jenkinsfile's structure and how it uses credentials; returns the problems
 * found, one sentence each (none: it has the shape).
 */
export function checkDeclarativePipeline(text: string, shape: PipelineShape): string[] {
  let source: GroovySource;
  try {
    source = readGroovy(text);
  } catch (error) {
    return [`cannot read it: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  const pipelines = source.blocks.filter((block) => block.name === "pipeline");
  if (pipelines.length !== 1) return [`expected one top-level pipeline { } block, found ${pipelines.length}`];
  const pipeline = pipelines[0] as GroovyBlock;
  const agentStatement = /(^|\n)\s*agent\s+(any|none|label\b)/.test(ownCode(source, pipeline));
  if (!child(pipeline, "agent") && !agentStatement) problems.push("the pipeline has no agent");

  const stagesBlocks = pipeline.children.filter((block) => block.name === "stages");
  if (stagesBlocks.length !== 1) {
    problems.push(`expected one stages { } block in the pipeline, found ${stagesBlocks.length}`);
  } else {
    const stages = (stagesBlocks[0] as GroovyBlock).children.filter((block) => block.name === "stage");
    const names = stages.map((stage) => stageName(stage) ?? "?");
    if (JSON.stringify(names) !== JSON.stringify(shape.stages)) problems.push(`the stages are ${JSON.stringify(names)}, expected ${JSON.stringify(shape.stages)}`);
    const checkStage = (stage: GroovyBlock) => {
      const nested = child(stage, "stages");
      if (nested) nested.children.filter((block) => block.name === "stage").forEach(checkStage);
      else if (!["steps", "parallel", "matrix"].some((name) => child(stage, name))) problems.push(`stage ${stageName(stage) ?? "?"} has no steps`);
    };
    stages.forEach(checkStage);
    for (const name of shape.mainOnly ?? []) {
      const stage = stages.find((entry) => stageName(entry) === name);
      const when = child(stage, "when");
      const onMain = when && /(^|\n)\s*branch\s+(['"])main\2\s*(\n|$)/.test(source.text.slice(when.open + 1, when.close).replace(/\{[\s\S]*\}/g, ""));
      if (stage && !onMain) problems.push(`stage ${name} does not run on main only: when { branch 'main' }`);
    }
  }

  const always = child(child(pipeline, "post"), "always");
  for (const step of shape.postAlways ?? []) {
    if (!always || !new RegExp(`(^|\\W)${step}\\s*[(\\s]`).test(source.masked.slice(always.open + 1, always.close))) problems.push(`post { always { } } does not call ${step}`);
  }
  problems.push(...checkCredentials(source));
  return problems;
}

function checkCredentials(source: GroovySource): string[] {
  const problems: string[] = [];
  const calls = [...source.masked.matchAll(/\bwithCredentials\s*\(/g)].map((match) => {
    const open = (match.index ?? 0) + match[0].length - 1;
    let depth = 0;
    let close = open;
    for (; close < source.masked.length; close++) {
      if (source.masked[close] === "(") depth++;
      else if (source.masked[close] === ")" && --depth === 0) break;
    }
    return { open, close, args: source.text.slice(open + 1, close) };
  });
  for (const match of source.masked.matchAll(/\bcredentials\s*\(/g)) {
    problems.push(`line ${lineOf(source.text, match.index ?? 0)}: credentials() binds a secret for a whole block; use withCredentials`);
  }
  for (const match of source.masked.matchAll(/\bcredentialsId\b/g)) {
    const at = match.index ?? 0;
    if (!calls.some((call) => at > call.open && at < call.close)) problems.push(`line ${lineOf(source.text, at)}: a credentialsId outside withCredentials(...)`);
  }
  for (const call of calls) {
    const secrets = [
      ...[...call.args.matchAll(/\bstring\s*\(([^)]*)\)/g)].flatMap((binding) => [...(binding[1] ?? "").matchAll(/\bvariable\s*:\s*['"](\w+)['"]/g)]),
      ...call.args.matchAll(/\b(?:passwordVariable|passphraseVariable)\s*:\s*['"](\w+)['"]/g),
    ].map((binding) => binding[1] ?? "");
    const body = blockAfter(source, call.close);
    if (!body) {
      problems.push(`line ${lineOf(source.text, call.open)}: withCredentials(...) without a { } body`);
      continue;
    }
    for (const literal of stringsIn(source, body)) {
      for (const secret of secrets) {
        const mentioned = new RegExp(`\\$\\{?${secret}\\b`).exec(literal.value);
        if (!mentioned) continue;
        const line = lineOf(source.text, literal.start);
        if (literal.quote.startsWith('"')) problems.push(`line ${line}: ${secret} in a double-quoted string: Groovy would interpolate the secret`);
        if (!/(^|\n)\s*set \+x\b/.test(literal.value.slice(0, mentioned.index))) problems.push(`line ${line}: the shell traces commands (set -x) where ${secret} is used; start with set +x`);
        if (new RegExp(`\\becho\\b[^\\n]*\\$\\{?${secret}\\b`).test(literal.value)) problems.push(`line ${line}: ${secret} is echoed`);
      }
    }
  }
  return problems;
}

function blockAfter(source: GroovySource, offset: number): GroovyBlock | undefined {
  const open = source.masked.slice(offset + 1).search(/\S/) + offset + 1;
  if (source.masked[open] !== "{") return undefined;
  const find = (blocks: readonly GroovyBlock[]): GroovyBlock | undefined => {
    for (const block of blocks) {
      if (block.open === open) return block;
      const nested = find(block.children);
      if (nested) return nested;
    }
    return undefined;
  };
  return find(source.blocks);
}

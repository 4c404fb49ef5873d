import { badRequest } from "./errors.js";
import { isRecord, type KObject, type ResourceInfo } from "./resources.js";

export type Matcher = (object: KObject) => boolean;

type Labels = Record<string, string> | undefined;

interface Requirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!";
  values: string[];
}

function matchRequirement(labels: Labels, requirement: Requirement): boolean {
  const value = labels?.[requirement.key];
  switch (requirement.op) {
    case "=":
    case "in":
      return value !== undefined && requirement.values.includes(value);
    case "!=":
    case "notin":
      return value === undefined || !requirement.values.includes(value);
    case "exists":
      return value !== undefined;
    case "!":
      return value === undefined;
  }
}

/** Splits on commas that are not inside parentheses. */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "(") depth += 1;
    if (char === ")") depth -= 1;
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += char;
  }
  parts.push(current);
  return parts;
}

const keyPattern = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const valuePattern = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, source: string): string {
  if (!keyPattern.test(key)) throw badRequest(`unable to parse requirement: found '${source}', expected: identifier`);
  return key;
}

function checkValue(value: string): string {
  if (value.length > 63 || !valuePattern.test(value)) throw badRequest(`unable to parse requirement: invalid label value: "${value}"`);
  return value;
}

/** The string form (`a=b,c!=d,e,!f,g in (h,i),j notin (k)`) of labels.Parse. */
export function parseLabelSelector(text: string | null): Matcher {
  if (!text || !text.trim()) return () => true;
  const requirements: Requirement[] = [];
  for (const rawPart of splitTop(text)) {
    const part = rawPart.trim();
    if (!part) throw badRequest(`unable to parse requirement: found '', expected: !, identifier, or 'end of string'`);
    let match: RegExpMatchArray | null;
    if ((match = /^!\s*(\S+)$/.exec(part))) requirements.push({ key: checkKey(match[1]!, part), op: "!", values: [] });
    else if ((match = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(part)))
      requirements.push({
        key: checkKey(match[1]!, part),
        op: match[2] as "in" | "notin",
        values: match[3]!
          .split(",")
          .map((value) => value.trim())
          .map(checkValue),
      });
    else if ((match = /^([^=!\s]+)\s*(==|=|!=)\s*(\S*)$/.exec(part)))
      requirements.push({ key: checkKey(match[1]!, part), op: match[2] === "!=" ? "!=" : "=", values: [checkValue(match[3]!)] });
    else if (/^[^=!\s()]+$/.test(part)) requirements.push({ key: checkKey(part, part), op: "exists", values: [] });
    else throw badRequest(`unable to parse requirement: couldn't parse the selector string "${text}"`);
  }
  return (object) => requirements.every((requirement) => matchRequirement(object.metadata.labels, requirement));
}

export interface LabelSelectorObject {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/** metav1.LabelSelector (matchLabels + matchExpressions) against a label map. An empty selector matches everything. */
export function matchesLabelSelector(selector: LabelSelectorObject | undefined, labels: Labels): boolean {
  if (!selector) return false;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) if (labels?.[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const op = ({ In: "in", NotIn: "notin", Exists: "exists", DoesNotExist: "!" } as const)[expression.operator as "In"];
    if (!op || !matchRequirement(labels, { key: expression.key, op, values: expression.values ?? [] })) return false;
  }
  return true;
}

function lookup(object: KObject, path: string): unknown {
  let current: unknown = object;
  for (const part of path.split(".")) {
    if (!isRecord(current)) return undefined;
    current = current[part];
  }
  return current;
}

function fieldValue(object: KObject, path: string): string {
  const value = lookup(object, path === "source" ? "source.component" : path);
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return `${value}`;
  return value === undefined || value === null ? "" : JSON.stringify(value);
}

/** fields.Parse: `metadata.name=x,status.phase!=Running`; only the fields the real server indexes for the resource. */
export function parseFieldSelector(text: string | null, info: ResourceInfo): Matcher {
  if (!text || !text.trim()) return () => true;
  const checks: { path: string; negate: boolean; value: string }[] = [];
  for (const part of text.split(",")) {
    const match = /^\s*([^=!\s]+)\s*(==|=|!=)\s*(.*?)\s*$/.exec(part);
    if (!match) throw badRequest(`invalid selector: '${text}'; can't understand '${part}'`);
    const path = match[1]!;
    const allowed = path === "metadata.name" || (path === "metadata.namespace" && info.namespaced) || info.fieldSelectors.includes(path);
    if (!allowed) throw badRequest(`"${path}" is not a known field selector: only "metadata.name", "metadata.namespace"${info.fieldSelectors.map((field) => `, "${field}"`).join("")}`);
    checks.push({ path, negate: match[2] === "!=", value: match[3]! });
  }
  return (object) => checks.every((check) => (fieldValue(object, check.path) === check.value) !== check.negate);
}

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";

/**
 * Grafana's published JSON schemas (draft-07) for the Grafana Foundation SDK version faceops builds
 * its dashboard with, vendored in test/spec/grafana/ (see ORIGIN.md there), and a validator that
 * reads a dashboard the way Grafana's schemas split it:
 *
 * - the dashboard's own fields against dashboard.jsonschema.json's Dashboard;
 * - each panel against its Panel (or RowPanel) definition, and the parts the dashboard schema leaves
 *   open to the panel plugin (`options`, `fieldConfig.defaults.custom`) against the Options and
 *   FieldConfig of the schema named after the panel's type (timeseries.jsonschema.json, ...);
 * - each Prometheus query against prometheus.jsonschema.json's dataquery.
 *
 * Every problem names the panel (id, title and type) and the path in it, so a mismatch says where
 * to look in tools/dashboard/faceops-dashboard.ts.
 */

export const grafanaSchemaDir = fileURLToPath(new URL("../spec/grafana/", import.meta.url));

type Json = Record<string, unknown>;

interface SchemaFile {
  definitions?: Record<string, unknown>;
}

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The schemas by the name Grafana gives them (the file name before .jsonschema.json). */
function loadSchemas(): Map<string, SchemaFile> {
  const schemas = new Map<string, SchemaFile>();
  for (const file of readdirSync(grafanaSchemaDir).filter((name) => name.endsWith(".jsonschema.json")).sort()) {
    schemas.set(file.replace(/\.jsonschema\.json$/, ""), JSON.parse(readFileSync(join(grafanaSchemaDir, file), "utf8")) as SchemaFile);
  }
  return schemas;
}

/**
 * The one place Grafana's JSON and its generated schema disagree on purpose: a thresholds list's
 * first step is the base, below every other, and Grafana writes its value as null (JSON has no
 * -Infinity). The schema's Threshold.value is `number`, yet its own description says "Nulls
 * currently appear here when serializing -Infinity to JSON", the SDK types it `number | null`, and
 * Grafana sets steps[0].value to -Infinity whatever the file holds when it loads a panel
 * (fixThresholds in PanelModel, validateFieldConfig in @grafana/data). So a copy is validated in
 * which only a first step's null reads as the lowest JSON number; a null anywhere else still fails.
 */
export function withBaseThresholdsAsNumbers<T>(value: T): T {
  const copy = structuredClone(value);
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(visit);
      return;
    }
    if (!isObject(node)) return;
    if (Array.isArray(node.steps) && typeof node.mode === "string") {
      const [base] = node.steps as unknown[];
      if (isObject(base) && base.value === null) base.value = -Number.MAX_VALUE;
    }
    Object.values(node).forEach(visit);
  };
  visit(copy);
  return copy;
}

export class GrafanaSchemas {
  private readonly ajv: Ajv;
  private readonly schemas: Map<string, SchemaFile>;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.schemas = loadSchemas();
    // strict: an unknown keyword in a vendored schema is an error, not silently ignored. The
    // dashboard schema's only format is date-time (snapshots' created and updated).
    this.ajv = new Ajv({ allErrors: true, strict: true, formats: { "date-time": /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)$/i } });
    for (const [name, schema] of this.schemas) this.ajv.addSchema(schema, name);
  }

  /** The schema names vendored, e.g. dashboard, timeseries, stat. */
  get names(): string[] {
    return [...this.schemas.keys()];
  }

  has(schema: string, definition: string): boolean {
    return this.schemas.get(schema)?.definitions?.[definition] !== undefined;
  }

  /** Problems of `value` against `schema`'s `definition`, each "path: message"; empty when valid. */
  check(schema: string, definition: string, value: unknown, at = ""): string[] {
    const key = `${schema}#/definitions/${definition}`;
    if (!this.has(schema, definition)) return [`${at || "/"}: no definition ${definition} in ${schema}.jsonschema.json (vendored: ${this.names.join(", ")})`];
    let validate = this.compiled.get(key);
    if (!validate) {
      validate = this.ajv.compile({ $ref: key });
      this.compiled.set(key, validate);
    }
    return validate(value) ? [] : (validate.errors ?? []).map((error) => describeError(error, at));
  }

  /**
   * Every mismatch of a dashboard with Grafana's schemas, each naming the panel it is in. Empty
   * when the dashboard, every panel, every panel's plugin options and every Prometheus query match.
   */
  dashboardProblems(dashboard: unknown): string[] {
    if (!isObject(dashboard)) return ["the dashboard is not a JSON object"];
    const checked = withBaseThresholdsAsNumbers(dashboard);
    const panels = Array.isArray(checked.panels) ? (checked.panels as unknown[]) : [];
    // The panels one by one below, so each problem names its panel (the schema's oneOf of Panel
    // and RowPanel would report every mismatch twice, once per branch, without saying which panel).
    const problems = this.check("dashboard", "Dashboard", { ...checked, panels: [] }, "dashboard");
    if (checked.panels !== undefined && !Array.isArray(checked.panels)) problems.push("dashboard/panels: must be an array");
    panels.forEach((panel, index) => problems.push(...this.panelProblems(panel, `dashboard/panels/${index}`)));
    return problems;
  }

  private panelProblems(panel: unknown, at: string): string[] {
    if (!isObject(panel)) return [`${at}: a panel must be an object`];
    const type = typeof panel.type === "string" ? panel.type : "(no type)";
    const name = `panel ${JSON.stringify(panel.id ?? "?")} ${JSON.stringify(panel.title ?? "")} (${type})`;
    const named = (problems: string[]) => problems.map((problem) => `${name}: ${problem}`);
    if (type === "row") {
      const rows = Array.isArray(panel.panels) ? (panel.panels as unknown[]) : [];
      return [...named(this.check("dashboard", "RowPanel", panel, at)), ...rows.flatMap((child, index) => this.panelProblems(child, `${at}/panels/${index}`))];
    }
    const problems = this.check("dashboard", "Panel", panel, at);
    if (!this.schemas.has(type)) {
      problems.push(`${at}/type: no schema for panels of type ${type}: vendor ${type}.jsonschema.json in test/spec/grafana/ (see ORIGIN.md)`);
      return named(problems);
    }
    // The dashboard schema leaves these to the panel plugin's schema. Missing options are checked
    // as empty ones, so the problem names the options the plugin requires.
    problems.push(...this.check(type, "Options", panel.options ?? {}, `${at}/options`));
    const fieldConfig = isObject(panel.fieldConfig) ? panel.fieldConfig : {};
    const defaults = isObject(fieldConfig.defaults) ? fieldConfig.defaults : {};
    if (this.has(type, "FieldConfig")) problems.push(...this.check(type, "FieldConfig", defaults.custom ?? {}, `${at}/fieldConfig/defaults/custom`));
    else if (defaults.custom !== undefined && !(isObject(defaults.custom) && Object.keys(defaults.custom).length === 0)) {
      problems.push(`${at}/fieldConfig/defaults/custom: ${type} panels have no custom field config in their schema`);
    }
    const panelDatasource = isObject(panel.datasource) ? panel.datasource.type : undefined;
    const targets = Array.isArray(panel.targets) ? (panel.targets as unknown[]) : [];
    targets.forEach((target, index) => {
      const datasource = isObject(target) && isObject(target.datasource) ? target.datasource.type : panelDatasource;
      if (datasource === "prometheus") problems.push(...this.check("prometheus", "dataquery", target, `${at}/targets/${index}`));
      else problems.push(`${at}/targets/${index}: a query of data source ${String(datasource)}, for which no schema is vendored`);
    });
    return named(problems);
  }
}

function describeError(error: ErrorObject, at: string): string {
  const path = `${at}${error.instancePath}` || "/";
  const detail =
    error.keyword === "additionalProperties"
      ? ` (${String((error.params as { additionalProperty: string }).additionalProperty)})`
      : error.keyword === "enum"
        ? ` (${(error.params as { allowedValues: unknown[] }).allowedValues.map((value) => JSON.stringify(value)).join(", ")})`
        : "";
  return `${path}: ${error.message ?? error.keyword}${detail}`;
}

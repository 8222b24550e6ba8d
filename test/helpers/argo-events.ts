/**
 * What an Argo Events Sensor does with an event, for the tests of the rendered Sensor: the data
 * filters, the triggers' conditions, and the trigger parameters, modelled on argo-events
 * (github.com/argoproj/argo-events, read at 6478ece4):
 *   - `pkg/sensors/dependencies/filter.go` (`filterData`): each filter's `path` is read with gjson; a
 *     path that does not exist is an error, which fails the dependency under the default `and`
 *     operator; `string` values are Go regular expressions matched anywhere in the value (`Match`,
 *     not anchored), `=` (or none) passes when one value matches, `!=` when one value does not;
 *     `bool` compares `strconv.ParseBool(value)` with gjson's `Bool()`; `number` compares floats
 *     with the comparator; an unknown type is an error. `or` passes on the first filter that passes.
 *   - `pkg/sensors/listener.go`: a trigger without `conditions` waits for every dependency of the
 *     Sensor (their names joined by `&&`); events of a dependency are kept until the trigger's
 *     condition holds, then the trigger fires with them and starts over.
 *   - `pkg/sensors/triggers/params.go` (`ApplyParams`, `getValueByKey`): a `dataKey` is read with
 *     gjson from the event data (a JSON value as its raw text, anything else as its string); a
 *     key that does not exist fails the trigger unless the source has a default `value`; the value
 *     is written as a JSON string at `dest` (sjson).
 * gjson and Go's RE2 are modelled only as far as the rendered Sensor uses them; anything beyond
 * (wildcards, modifiers, regex flags other than a leading `(?i)`, parentheses in conditions) throws
 * rather than guess.
 */

/** A JSON value. */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** What gjson finds at a path: whether it exists, and the value. */
export type GjsonResult = { exists: false } | { exists: true; value: Json };

function splitPath(path: string): string[] {
  if (/[*?@|]/.test(path.replace(/\\./g, ""))) throw new Error(`gjson path ${path}: wildcards, modifiers and queries are not modelled`);
  const parts: string[] = [];
  let cur = "";
  for (let i = 0; i < path.length; i++) {
    if (path[i] === "\\" && i + 1 < path.length) cur += path[++i];
    else if (path[i] === ".") {
      parts.push(cur);
      cur = "";
    } else cur += path[i];
  }
  parts.push(cur);
  return parts;
}

function getParts(value: Json, parts: string[]): GjsonResult {
  if (parts.length === 0) return { exists: true, value };
  const [head, ...rest] = parts;
  if (Array.isArray(value)) {
    if (head === "#") {
      if (rest.length === 0) return { exists: true, value: value.length };
      // `#.key`: the list of what each element has at `key` (elements without it are left out).
      const found = value.map((v) => getParts(v, rest)).filter((r): r is { exists: true; value: Json } => r.exists);
      return { exists: true, value: found.map((r) => r.value) };
    }
    if (!/^[0-9]+$/.test(head)) return { exists: false };
    const i = Number(head);
    return i < value.length ? getParts(value[i], rest) : { exists: false };
  }
  if (value !== null && typeof value === "object" && Object.prototype.hasOwnProperty.call(value, head)) return getParts(value[head], rest);
  return { exists: false };
}

/** gjson's `Get(json, path)` for plain dotted paths, `\.` escapes, array indexes, `#` and `#.key`. */
export function gjsonGet(data: Json, path: string): GjsonResult {
  return getParts(data, splitPath(path));
}

/** gjson's `Result.String()`: a string as itself, true/false, a number's text, null as empty, objects and lists as JSON. */
export function gjsonString(value: Json): string {
  if (value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/** gjson's `Result.Bool()`. */
function gjsonBool(value: Json): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "number") return value !== 0;
  if (typeof value === "string") return goParseBool(value) ?? false;
  return false;
}

/** gjson's `Result.Float()`. */
function gjsonFloat(value: Json): number {
  if (typeof value === "number") return value;
  if (value === true) return 1;
  if (typeof value === "string") {
    const n = Number(value);
    return value.trim() !== "" && Number.isFinite(n) ? n : 0;
  }
  return 0;
}

/** Go's `strconv.ParseBool`: undefined where Go returns an error. */
function goParseBool(s: string): boolean | undefined {
  if (["1", "t", "T", "TRUE", "true", "True"].includes(s)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(s)) return false;
  return undefined;
}

/** A Go (RE2) pattern as a JavaScript RegExp; only a leading `(?i)` flag group is understood. */
export function goRegExp(pattern: string): RegExp {
  let flags = "";
  let source = pattern;
  if (source.startsWith("(?i)")) {
    flags = "i";
    source = source.slice(4);
  }
  if (source.includes("(?")) throw new Error(`Go regexp ${pattern}: flag and special groups are not modelled`);
  if (/\\[pPQEzAC]/.test(source)) throw new Error(`Go regexp ${pattern}: this escape reads differently in Go and JavaScript`);
  return new RegExp(source, flags);
}

/** A data filter as a Sensor spells it. */
export interface DataFilterSpec {
  path: string;
  type: string;
  value: string[];
  comparator?: string;
  template?: string;
}

/** The outcome of a dependency's filters: passed or not, and the error argo-events would log. */
export interface FilterOutcome {
  pass: boolean;
  error?: string;
}

/** argo-events' `filterData`. */
export function filterData(filters: DataFilterSpec[], data: Json, operator: string = ""): FilterOutcome {
  if (operator !== "" && operator !== "and" && operator !== "or") throw new Error(`logical operator ${operator} is not modelled`);
  const or = operator === "or";
  if (filters.length === 0) return { pass: true };
  const errors: string[] = [];
  const fail = (error: string): FilterOutcome | undefined => {
    if (or) {
      errors.push(error);
      return undefined;
    }
    return { pass: false, error };
  };
  next: for (const f of filters) {
    if (f.template !== undefined && f.template !== "") throw new Error("data filter templates are not modelled");
    const found = gjsonGet(data, f.path);
    if (!found.exists) {
      const r = fail(`path '${f.path}' does not exist`);
      if (r) return r;
      continue;
    }
    if (f.value.length === 0) {
      const r = fail("no values specified");
      if (r) return r;
      continue;
    }
    let passed = false;
    switch (f.type) {
      case "bool":
        for (const v of f.value) {
          const b = goParseBool(v);
          if (b === undefined) {
            const r = fail(`strconv.ParseBool: parsing "${v}": invalid syntax`);
            if (r) return r;
            continue next;
          }
          if (b === gjsonBool(found.value)) {
            passed = true;
            break;
          }
        }
        break;
      case "number":
        for (const v of f.value) {
          const want = Number(v);
          if (v.trim() === "" || Number.isNaN(want)) {
            const r = fail(`strconv.ParseFloat: parsing "${v}": invalid syntax`);
            if (r) return r;
            continue next;
          }
          const got = gjsonFloat(found.value);
          const c = f.comparator ?? "";
          const ok = c === ">=" ? got >= want : c === ">" ? got > want : c === "<" ? got < want : c === "<=" ? got <= want
            : c === "!=" ? got !== want : c === "=" || c === "" ? got === want : false;
          if (ok) {
            passed = true;
            break;
          }
        }
        break;
      case "string":
        for (const v of f.value) {
          const match = goRegExp(v).test(gjsonString(found.value));
          const c = f.comparator ?? "";
          const ok = c === "=" || c === "" ? match : c === "!=" ? !match : false;
          if (ok) {
            passed = true;
            break;
          }
        }
        break;
      default: {
        const r = fail(`unsupported JSON type '${f.type}'`);
        if (r) return r;
        continue;
      }
    }
    if (or && passed) return { pass: true };
    if (!or && !passed) return { pass: false };
  }
  if (or) return errors.length > 0 ? { pass: false, error: errors.join(" / ") } : { pass: false };
  return { pass: true };
}

/** A dependency as a Sensor spells it (data filters only are modelled). */
export interface DependencySpec {
  name: string;
  eventSourceName: string;
  eventName: string;
  filters?: { data?: DataFilterSpec[]; dataLogicalOperator?: string; [other: string]: unknown };
  filtersLogicalOperator?: string;
}

/** A trigger parameter as a Sensor spells it. */
export interface ParameterSpec {
  src: { dependencyName: string; dataKey?: string; value?: string; [other: string]: unknown };
  dest: string;
  operation?: string;
}

/** A trigger as a Sensor spells it (argoWorkflow triggers only are modelled). */
export interface TriggerSpec {
  template: {
    name: string;
    conditions?: string;
    argoWorkflow?: { operation?: string; source: { resource: Json }; parameters?: ParameterSpec[] };
    [other: string]: unknown;
  };
  parameters?: unknown[];
}

/** The part of a Sensor the model reads. */
export interface SensorSpec {
  spec: { dependencies: DependencySpec[]; triggers: TriggerSpec[] };
}

/** An event as the EventBus carries it to the Sensor. */
export interface SensorEvent {
  eventSourceName: string;
  eventName: string;
  data: Json;
}

/** A trigger that fired: its name, what it submits, and the resource with the parameters applied. */
export interface Fired {
  trigger: string;
  operation: string;
  resource: Json;
}

/** Whether `condition` (dependency names joined by `&&` and `||`, `&&` binding tighter) holds. */
function conditionHolds(condition: string, met: Set<string>, known: Set<string>): boolean {
  if (/[()!]/.test(condition)) throw new Error(`condition ${condition}: parentheses and negation are not modelled`);
  return condition.split("||").some((group) =>
    group.split("&&").every((term) => {
      const name = term.trim();
      if (!known.has(name)) throw new Error(`condition ${condition}: ${name} is no dependency of the Sensor`);
      return met.has(name);
    }));
}

/** sjson's `Set(json, path, string)` for dotted paths of keys and array indexes. */
export function sjsonSetString(doc: Json, path: string, value: string): Json {
  const copy = structuredClone(doc);
  const parts = splitPath(path);
  let cur: Json = copy;
  parts.forEach((part, i) => {
    const last = i === parts.length - 1;
    if (Array.isArray(cur)) {
      if (!/^[0-9]+$/.test(part)) throw new Error(`sjson path ${path}: ${part} is not an index of a list`);
      const idx = Number(part);
      if (last) cur[idx] = value;
      else cur = cur[idx] ??= {};
    } else if (cur !== null && typeof cur === "object") {
      if (last) cur[part] = value;
      else cur = cur[part] ??= {};
    } else {
      throw new Error(`sjson path ${path}: ${part} is under a scalar`);
    }
  });
  return copy;
}

/** Resolves one parameter against the events its trigger fired with (`ResolveParamValue`). */
function resolveParameter(p: ParameterSpec, events: Map<string, SensorEvent>): string | undefined {
  const event = events.get(p.src.dependencyName);
  if (!event) {
    if (p.src.value !== undefined) return p.src.value;
    return undefined;
  }
  if (p.src.dataKey === undefined) throw new Error("parameters without dataKey are not modelled");
  const found = gjsonGet(event.data, p.src.dataKey);
  if (found.exists) {
    const v = found.value;
    return v !== null && typeof v === "object" ? JSON.stringify(v) : v === null ? "null" : gjsonString(v);
  }
  if (p.src.value !== undefined) return p.src.value;
  throw new Error(`unable to resolve '${p.src.dependencyName}' parameter value: key ${p.src.dataKey} does not exist in the event payload`);
}

/**
 * A Sensor receiving events one at a time. `receive` returns the triggers the event fires, in the
 * Sensor's order, each with its resource after the parameters; a trigger whose parameter cannot be
 * resolved throws (argo-events logs it and submits nothing).
 */
export class SensorModel {
  private readonly pending = new Map<string, Map<string, SensorEvent>>();
  private readonly known: Set<string>;

  constructor(private readonly sensor: SensorSpec) {
    this.known = new Set(sensor.spec.dependencies.map((d) => d.name));
    for (const d of sensor.spec.dependencies) {
      const extra = Object.keys(d.filters ?? {}).filter((k) => k !== "data" && k !== "dataLogicalOperator");
      if (extra.length > 0) throw new Error(`dependency ${d.name}: filters ${extra.join(", ")} are not modelled`);
    }
  }

  /** The dependencies an event meets, with the filter errors argo-events would log for the others. */
  met(event: SensorEvent): { met: string[]; errors: Record<string, string> } {
    const met: string[] = [];
    const errors: Record<string, string> = {};
    for (const d of this.sensor.spec.dependencies) {
      if (d.eventSourceName !== event.eventSourceName || d.eventName !== event.eventName) continue;
      const outcome = filterData(d.filters?.data ?? [], event.data, d.filters?.dataLogicalOperator ?? "");
      if (outcome.pass) met.push(d.name);
      else if (outcome.error) errors[d.name] = outcome.error;
    }
    return { met, errors };
  }

  /** Delivers one event. */
  receive(event: SensorEvent): Fired[] {
    const { met } = this.met(event);
    const fired: Fired[] = [];
    for (const t of this.sensor.spec.triggers) {
      const name = t.template.name;
      const condition = t.template.conditions || [...this.known].join("&&");
      const events = this.pending.get(name) ?? new Map<string, SensorEvent>();
      const names = new Set(condition.split(/\|\||&&/).map((s) => s.trim()));
      for (const d of met) if (names.has(d)) events.set(d, event);
      this.pending.set(name, events);
      if (!conditionHolds(condition, new Set(events.keys()), this.known)) continue;
      this.pending.delete(name);
      const wf = t.template.argoWorkflow;
      if (!wf) throw new Error(`trigger ${name}: only argoWorkflow triggers are modelled`);
      let resource = structuredClone(wf.source.resource);
      for (const p of wf.parameters ?? []) {
        if ((p.operation ?? "") !== "" && p.operation !== "overwrite") throw new Error(`parameter operation ${p.operation} is not modelled`);
        const value = resolveParameter(p, events);
        if (value !== undefined) resource = sjsonSetString(resource, p.dest, value);
      }
      fired.push({ trigger: name, operation: wf.operation ?? "submit", resource });
    }
    return fired;
  }
}

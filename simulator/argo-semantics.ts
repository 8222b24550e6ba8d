/**
 * The small pieces of Argo's semantics the e2e runner needs, each mirroring one place in Argo's
 * source (argoproj/argo-workflows):
 *
 * - `{{…}}` substitution: `util/template/simple_template.go` (`simpleReplace`): the tag is trimmed
 *   and looked up; a value is JSON-escaped into the template's JSON text; with `allowUnresolved` an
 *   unknown tag is written back unchanged. `workflow/common/util.go` (`SubstituteParams`) runs it twice
 *   over a template, globals first and inputs second, both with `allowUnresolved = true`.
 * - `depends` logic: `workflow/controller/dag.go` (`evaluateDependsLogic`): `T`, `T.Succeeded`,
 *   `T.Failed`, `T.Errored`, `T.Skipped`, `T.Omitted`, `T.Daemoned`, `T.AnySucceeded`, `T.AllFailed`
 *   with `&&`, `||`, `!` and parentheses; a bare `T` means `(T.Succeeded || T.Skipped || T.Daemoned)`.
 * - `successCondition` / `failureCondition` of resource templates: `workflow/executor/resource.go`:
 *   comma-separated Kubernetes label-selector requirements whose keys are JSON paths into the object.
 */

/** Phases of a node, as Argo names them. */
export type NodePhase = "Pending" | "Running" | "Succeeded" | "Failed" | "Error" | "Skipped" | "Omitted";

/** A phase that will not change any more. */
export const fulfilled = (p: NodePhase | undefined): boolean =>
  p === "Succeeded" || p === "Failed" || p === "Error" || p === "Skipped" || p === "Omitted";

/** Every `{{tag}}` in a text, trimmed, in order (expression tags `{{=…}}` included, as `=…`). */
export function tagsIn(text: string): string[] {
  const out: string[] = [];
  const re = /\{\{([\s\S]*?)\}\}/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) out.push(m[1].trim());
  return out;
}

/**
 * One pass of Argo's `Replace(json, map, allowUnresolved=true)` over a value: the value is turned
 * into JSON text, each known tag is replaced by its JSON-escaped value, unknown tags stay as they
 * are, and the text is parsed back.
 */
export function replaceInJson<T>(value: T, map: Record<string, string>): T {
  const json = JSON.stringify(value);
  const replaced = json.replace(/\{\{([\s\S]*?)\}\}/g, (whole, tag: string) => {
    const key = tag.trim();
    if (key.startsWith("=")) throw new Error(`expression tag {{${tag}}} is not supported by the e2e runner`);
    if (!Object.prototype.hasOwnProperty.call(map, key)) return whole;
    return JSON.stringify(map[key]).slice(1, -1);
  });
  return JSON.parse(replaced) as T;
}

/** The result flags of one dependency, as `evaluateDependsLogic` builds them. */
interface TaskResults {
  Succeeded: boolean;
  Failed: boolean;
  Errored: boolean;
  Skipped: boolean;
  Omitted: boolean;
  Daemoned: boolean;
  AnySucceeded: boolean;
  AllFailed: boolean;
}

const RESULTS = ["Succeeded", "Failed", "Errored", "Skipped", "Omitted", "Daemoned", "AnySucceeded", "AllFailed"] as const;

function resultsOf(phase: NodePhase): TaskResults {
  return {
    Succeeded: phase === "Succeeded",
    Failed: phase === "Failed",
    Errored: phase === "Error",
    Skipped: phase === "Skipped",
    Omitted: phase === "Omitted",
    Daemoned: false,
    // Only task groups (withItems/withParam) set these; the runner has none.
    AnySucceeded: false,
    AllFailed: false,
  };
}

type Token = { kind: "op"; value: string } | { kind: "ref"; task: string; result?: (typeof RESULTS)[number] };

function tokenizeDepends(expr: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const c = expr[i];
    if (/\s/.test(c)) { i++; continue; }
    if (expr.startsWith("&&", i) || expr.startsWith("||", i)) { tokens.push({ kind: "op", value: expr.slice(i, i + 2) }); i += 2; continue; }
    if (c === "!" || c === "(" || c === ")") { tokens.push({ kind: "op", value: c }); i++; continue; }
    const m = /^([a-zA-Z0-9][-a-zA-Z0-9_]*)(\.([A-Za-z]+))?/.exec(expr.slice(i));
    if (!m) throw new Error(`depends '${expr}': cannot read at '${expr.slice(i)}'`);
    const result = m[3];
    if (result !== undefined && !(RESULTS as readonly string[]).includes(result)) {
      throw new Error(`depends '${expr}': unknown result '.${result}'`);
    }
    tokens.push({ kind: "ref", task: m[1], result: result as (typeof RESULTS)[number] | undefined });
    i += m[0].length;
  }
  return tokens;
}

/** The task names a `depends` expression refers to. */
export function dependsTasks(expr: string): string[] {
  return [...new Set(tokenizeDepends(expr).flatMap((t) => (t.kind === "ref" ? [t.task] : [])))];
}

/** Evaluates a `depends` expression over the phases of its (fulfilled) dependencies. */
export function evaluateDepends(expr: string, phases: Record<string, NodePhase>): boolean {
  const tokens = tokenizeDepends(expr);
  let pos = 0;
  const peek = () => tokens[pos];
  const value = (t: Extract<Token, { kind: "ref" }>): boolean => {
    const phase = phases[t.task];
    if (phase === undefined) throw new Error(`depends '${expr}': no phase for task ${t.task}`);
    const r = resultsOf(phase);
    return t.result ? r[t.result] : r.Succeeded || r.Skipped || r.Daemoned;
  };
  const primary = (): boolean => {
    const t = tokens[pos++];
    if (!t) throw new Error(`depends '${expr}': unexpected end`);
    if (t.kind === "ref") return value(t);
    if (t.value === "!") return !primary();
    if (t.value === "(") {
      const v = or();
      const close = tokens[pos++];
      if (!close || close.kind !== "op" || close.value !== ")") throw new Error(`depends '${expr}': missing ')'`);
      return v;
    }
    throw new Error(`depends '${expr}': unexpected '${t.value}'`);
  };
  const and = (): boolean => {
    let v = primary();
    while (peek()?.kind === "op" && (peek() as { value: string }).value === "&&") { pos++; const r = primary(); v = v && r; }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (peek()?.kind === "op" && (peek() as { value: string }).value === "||") { pos++; const r = and(); v = v || r; }
    return v;
  };
  const result = or();
  if (pos !== tokens.length) throw new Error(`depends '${expr}': unexpected trailing tokens`);
  return result;
}

/**
 * Evaluates a substituted `when` expression: comparisons (`==`, `!=`, `<`, `>`, `<=`, `>=`) of quoted
 * strings, numbers, `true`/`false` and bare words (taken as strings, as Argo's examples write them),
 * combined with `&&`, `||`, `!` and parentheses. Anything else throws.
 */
export function evaluateWhen(expr: string): boolean {
  const tokens: string[] = [];
  const re = /\s*(&&|\|\||==|!=|<=|>=|<|>|!|\(|\)|'[^']*'|"[^"]*"|[A-Za-z0-9_.:/+-]+)/y;
  let i = 0;
  while (i < expr.length) {
    if (/^\s*$/.test(expr.slice(i))) break;
    re.lastIndex = i;
    const m = re.exec(expr);
    if (!m) throw new Error(`when '${expr}': cannot read at '${expr.slice(i)}'`);
    tokens.push(m[1]);
    i = re.lastIndex;
  }
  let pos = 0;
  const atom = (): string | number | boolean => {
    const t = tokens[pos++];
    if (t === undefined) throw new Error(`when '${expr}': unexpected end`);
    if (/^'.*'$|^".*"$/.test(t)) return t.slice(1, -1);
    if (t === "true") return true;
    if (t === "false") return false;
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    if (/^[A-Za-z0-9_.:/+-]+$/.test(t)) return t;
    throw new Error(`when '${expr}': unexpected '${t}'`);
  };
  const comparison = (): boolean => {
    if (tokens[pos] === "!") { pos++; return !comparison(); }
    if (tokens[pos] === "(") {
      pos++;
      const v = or();
      if (tokens[pos++] !== ")") throw new Error(`when '${expr}': missing ')'`);
      return v;
    }
    const left = atom();
    const op = tokens[pos];
    if (op && ["==", "!=", "<", ">", "<=", ">="].includes(op)) {
      pos++;
      const right = atom();
      switch (op) {
        case "==": return String(left) === String(right);
        case "!=": return String(left) !== String(right);
        default: {
          if (typeof left !== "number" || typeof right !== "number") throw new Error(`when '${expr}': '${op}' needs numbers`);
          return op === "<" ? left < right : op === ">" ? left > right : op === "<=" ? left <= right : left >= right;
        }
      }
    }
    if (typeof left !== "boolean") throw new Error(`when '${expr}': '${String(left)}' is not a boolean`);
    return left;
  };
  const and = (): boolean => {
    let v = comparison();
    while (tokens[pos] === "&&") { pos++; const r = comparison(); v = v && r; }
    return v;
  };
  const or = (): boolean => {
    let v = and();
    while (tokens[pos] === "||") { pos++; const r = and(); v = v || r; }
    return v;
  };
  const result = or();
  if (pos !== tokens.length) throw new Error(`when '${expr}': unexpected '${tokens[pos]}'`);
  return result;
}

/** Reads a dotted JSON path (gjson's simple form, as Argo uses it for conditions). */
export function jsonPathValue(obj: unknown, key: string): { exists: boolean; value: string } {
  let cur: unknown = obj;
  for (const part of key.split(".")) {
    if (cur === null || typeof cur !== "object") return { exists: false, value: "" };
    const rec = cur as Record<string, unknown>;
    if (!Object.prototype.hasOwnProperty.call(rec, part)) return { exists: false, value: "" };
    cur = rec[part];
  }
  if (cur === null || cur === undefined) return { exists: false, value: "" };
  return { exists: true, value: typeof cur === "object" ? JSON.stringify(cur) : String(cur) };
}

/** One requirement of a resource condition, read as Kubernetes' label selector parser reads it. */
interface Requirement { key: string; op: "==" | "=" | "!=" | "in" | "notin" | ">" | "<" | "exists" | "!"; values: string[] }

function parseRequirements(condition: string): Requirement[] {
  const raw: string[] = [];
  let depth = 0;
  let cur = "";
  for (const c of condition) {
    if (c === "(") depth++;
    if (c === ")") depth--;
    if (c === "," && depth === 0) { raw.push(cur); cur = ""; } else cur += c;
  }
  raw.push(cur);
  const reqs = raw.map((r): Requirement => {
    const req = r.trim();
    let m: RegExpExecArray | null;
    if ((m = /^!\s*([\w.-]+)$/.exec(req))) return { key: m[1], op: "!", values: [] };
    if ((m = /^([\w.-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req))) return { key: m[1], op: m[2] as "in" | "notin", values: m[3].split(",").map((x) => x.trim()) };
    if ((m = /^([\w.-]+)\s*(==|=|!=|>|<)\s*([^\s]+)$/.exec(req))) return { key: m[1], op: m[2] as Requirement["op"], values: [m[3]] };
    if ((m = /^([\w.-]+)$/.exec(req))) return { key: m[1], op: "exists", values: [] };
    throw new Error(`condition '${condition}': cannot read requirement '${req}'`);
  });
  // labels.Parse returns the requirements sorted by key.
  return reqs.map((r, i) => ({ r, i })).sort((a, b) => (a.r.key < b.r.key ? -1 : a.r.key > b.r.key ? 1 : a.i - b.i)).map((x) => x.r);
}

function holds(obj: unknown, r: Requirement): boolean {
  const { exists, value } = jsonPathValue(obj, r.key);
  switch (r.op) {
    case "!": return !exists;
    case "exists": return exists;
    case "in": return exists && r.values.includes(value);
    case "notin": return !exists || !r.values.includes(value);
    case "==":
    case "=": return exists && value === r.values[0];
    case "!=": return !exists || value !== r.values[0];
    default: {
      const a = Number(value);
      const b = Number(r.values[0]);
      if (!exists || !Number.isInteger(a) || !Number.isInteger(b)) return false;
      return r.op === ">" ? a > b : a < b;
    }
  }
}

/** A requirement as `labels.Requirement.String()` prints it (set values sorted). */
function formatRequirement(r: Requirement): string {
  switch (r.op) {
    case "!": return `!${r.key}`;
    case "exists": return r.key;
    case "in":
    case "notin": return `${r.key} ${r.op} (${[...r.values].sort().join(",")})`;
    default: return `${r.key}${r.op}${r.values[0]}`;
  }
}

/**
 * The requirement of a `failureCondition` that holds, as Argo prints it, or undefined: Argo fails
 * a resource step when *any* requirement of its failure condition holds (`matchConditions` checks
 * them one by one), and succeeds it only when *all* of the success condition's do.
 */
export function failedRequirement(obj: unknown, condition: string): string | undefined {
  const hit = parseRequirements(condition).find((r) => holds(obj, r));
  return hit ? formatRequirement(hit) : undefined;
}

/**
 * Whether an object matches a resource template condition: comma-separated requirements
 * (`k == v`, `k = v`, `k != v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, `k > n`, `k < n`), all of
 * which must hold; as in Kubernetes label selectors, `!=` and `notin` hold for a missing key.
 */
export function matchesCondition(obj: unknown, condition: string): boolean {
  return parseRequirements(condition).every((r) => holds(obj, r));
}

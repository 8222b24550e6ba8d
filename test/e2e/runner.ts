/**
 * An offline runner for the rendered `implementation-dag` WorkflowTemplate: it executes the object
 * with Argo's semantics for exactly the features the template uses, and throws a
 * {@link RunnerError} on any field it does not understand, so it can never silently misread one.
 * Test support, not product.
 *
 * What it does, and where in Argo's source (argoproj/argo-workflows) the behaviour comes from:
 * - Submission: every `{{…}}` reference must be in scope, as `workflow/validate/validate.go`
 *   (`resolveAllVariables`) demands; an unresolvable one is an error before anything runs. Stricter
 *   than Argo in one place: `{{workflow.outputs.parameters.X}}` needs some template to declare
 *   `globalName: X` (Argo lets any name through once one global output exists).
 * - DAG tasks run when their `depends` / `dependencies` are fulfilled; a false `depends` makes the
 *   task Omitted ("omitted: depends condition not met"), a false `when` makes it Skipped
 *   (`workflow/controller/dag.go`). An Omitted target inherits the worst phase of its dependencies,
 *   so a failure anywhere fails the DAG (`assessDAGPhase`).
 * - Substitution as `workflow/common/util.go` (`ProcessArgs`, `SubstituteParams`): input parameters
 *   take their argument or else their default, then the whole template is substituted, globals first
 *   and inputs second, both leaving unknown tags in place. So a global output that was never set —
 *   `{{workflow.outputs.parameters.ns}}` in the exit handler when set-params failed — reaches the pod
 *   as that literal text (`util/template/simple_template.go`: "just write the same string back").
 *   The runner mirrors that and lists such tags on the node (`unresolved`). Any other tag without a
 *   value at run time is a {@link RunnerError}: with the features used it cannot happen in Argo.
 * - A script's output parameter is its file with one trailing newline removed; a missing file without
 *   a default makes a node that exited 0 an Error (`workflow/executor/executor.go`, `SaveParameters`).
 * - The exit handler runs after the entrypoint with `{{workflow.status}}` (Succeeded / Failed / Error)
 *   and `{{workflow.failures}}`; a failed exit handler fails a workflow that had succeeded
 *   (`workflow/controller/operator.go`).
 * - `resource` templates are recorded and judged by the object status the test scripts, against the
 *   template's own `failureCondition` (first) and `successCondition` (`workflow/executor/resource.go`).
 *   A status that matches neither stays unjudged in Argo until the deadline; the scripted status is
 *   final, so the runner fails the node with Argo's deadline message at once.
 * - `steps` templates run group by group (a failed step stops the later groups); a steps or dag
 *   template's outputs come from its children (`valueFrom.parameter`, artifact `from`).
 * - `templateRef` tasks (the agent template) call a recording stand-in whose outcome the test sets.
 * - Pods: a script's scratch emptyDir is a fresh host directory (the harness in
 *   `test/helpers/argo-step.ts` re-roots `/tmp` there); other mounts (configMap and secret volumes
 *   from the options, emptyDirs) become directories inside it, and env values under a mount path follow.
 *   Artifacts pass between nodes as files. Identity (service accounts, tokens) is not modelled.
 * - Not modelled, and refused if present: retries, `continueOn`, `failFast: false`, hooks, loops
 *   (`withItems`/`withParam`), expression tags `{{=…}}`, container templates — anything not listed in
 *   {@link UNDERSTOOD}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "../helpers/argo-step";
import { SCRATCH_DIR } from "../../components/pod-security";
import {
  dependsTasks, evaluateDepends, evaluateWhen, fulfilled, jsonPathValue, matchesCondition, replaceInJson, tagsIn,
  type NodePhase,
} from "./argo-semantics";

/** Something the runner cannot execute faithfully: an unknown field, a bad reference, a bad setup. */
export class RunnerError extends Error {
  override name = "RunnerError";
}

// ---------------------------------------------------------------------------------------------
// The fields the runner understands, per object level. Each is either executed, or inert with the
// reason it does not change an offline run's outcome. Anything else throws.
// ---------------------------------------------------------------------------------------------

/** Understood fields per object level: field name to what the runner does with it. */
export const UNDERSTOOD: Record<string, Record<string, string>> = {
  workflowTemplate: { apiVersion: "checked", kind: "checked", metadata: "name, namespace", spec: "executed" },
  metadata: { name: "workflow name prefix", namespace: "{{workflow.namespace}}", labels: "inert", annotations: "inert" },
  spec: {
    entrypoint: "executed",
    onExit: "executed: the exit handler",
    arguments: "executed: workflow parameters",
    templates: "executed",
    serviceAccountName: "{{workflow.serviceAccountName}}; identity is not modelled offline (RBAC has its own tests)",
    activeDeadlineSeconds: "executed: no node starts after the deadline",
    synchronization: "executed: mutexes, held in this process for the whole run",
    volumes: "executed: emptyDir, configMap, secret",
    podGC: "inert: deletes finished pods",
    ttlStrategy: "inert: deletes finished workflows",
    artifactRepositoryRef: "inert: artifacts pass between nodes as files",
    securityContext: "inert: pod security has its own tests",
    podMetadata: "inert: pod labels",
  },
  synchronization: { mutexes: "executed" },
  mutex: { name: "executed" },
  arguments: { parameters: "executed" },
  workflowParameter: { name: "executed", value: "executed", description: "inert" },
  template: {
    name: "executed",
    inputs: "executed",
    outputs: "executed",
    activeDeadlineSeconds: "executed: the step is killed and fails",
    script: "executed",
    dag: "executed",
    steps: "executed",
    resource: "executed",
    volumes: "executed: added to the workflow's volumes for this pod",
    automountServiceAccountToken: "inert: identity is not modelled offline",
    executor: "inert: identity is not modelled offline",
    serviceAccountName: "inert: identity is not modelled offline",
    metadata: "inert: pod labels",
  },
  script: {
    image: "inert: the host's tools stand in for the image's",
    imagePullPolicy: "inert",
    name: "inert",
    command: "executed",
    source: "executed",
    env: "executed",
    volumeMounts: "executed",
    resources: "inert: requests and limits have their own tests",
    securityContext: "inert: pod security has their own tests",
  },
  env: { name: "executed", value: "executed", valueFrom: "executed: secretKeyRef, configMapKeyRef, fieldRef" },
  envValueFrom: { secretKeyRef: "executed", configMapKeyRef: "executed", fieldRef: "executed" },
  keyRef: { name: "executed", key: "executed", optional: "executed" },
  fieldRef: { fieldPath: "executed", apiVersion: "inert" },
  volumeMount: { name: "executed", mountPath: "executed", readOnly: "inert" },
  volume: { name: "executed", emptyDir: "executed", configMap: "executed", secret: "executed" },
  emptyDir: { sizeLimit: "inert: no disk quota offline" },
  configMapVolume: { name: "executed", items: "executed", defaultMode: "inert", optional: "executed" },
  secretVolume: { secretName: "executed", items: "executed", defaultMode: "inert", optional: "executed" },
  keyToPath: { key: "executed", path: "executed", mode: "inert" },
  inputs: { parameters: "executed", artifacts: "executed" },
  inputParameter: { name: "executed", value: "executed: the default", description: "inert" },
  inputArtifact: { name: "executed", path: "executed", optional: "executed" },
  outputs: { parameters: "executed", artifacts: "executed" },
  outputParameter: { name: "executed", valueFrom: "executed", globalName: "executed", description: "inert" },
  outputValueFrom: {
    path: "executed (script)", jsonPath: "executed (resource)", parameter: "executed (steps, dag)", default: "executed",
  },
  outputArtifact: {
    name: "executed", path: "executed", optional: "executed", archive: "inert: artifacts pass as files", from: "executed (steps, dag)",
    s3: "substituted and recorded; inert otherwise: artifacts pass as files",
  },
  s3Artifact: { key: "substituted; inert: artifacts pass as files" },
  dag: { tasks: "executed" },
  dagTask: {
    name: "executed", template: "executed", templateRef: "executed: agent stand-in", arguments: "executed",
    depends: "executed", dependencies: "executed", when: "executed",
  },
  step: { name: "executed", template: "executed", templateRef: "executed: agent stand-in", arguments: "executed", when: "executed" },
  templateRef: { name: "executed", template: "executed", clusterScope: "executed" },
  taskArguments: { parameters: "executed", artifacts: "executed" },
  argumentParameter: { name: "executed", value: "executed" },
  argumentArtifact: { name: "executed", from: "executed" },
  resource: {
    action: "executed", manifest: "executed", successCondition: "executed", failureCondition: "executed",
    setOwnerReference: "inert: garbage collection with the workflow",
  },
  outputArtifactArchive: { none: "inert: artifacts pass as files", tar: "inert: artifacts pass as files" },
};

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Throws on any field of `obj` not understood at `level`. */
function checkFields(obj: unknown, level: string, where: string): Obj {
  if (!isObj(obj)) throw new RunnerError(`${where}: expected an object`);
  const known = UNDERSTOOD[level];
  for (const key of Object.keys(obj)) {
    if (!(key in known)) throw new RunnerError(`${where}: field '${key}' is not understood by the e2e runner (level ${level})`);
  }
  return obj;
}

const list = (v: unknown, where: string): unknown[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new RunnerError(`${where}: expected a list`);
  return v;
};

/** Walks the whole object once, checking every level's fields. */
function checkWorkflowTemplate(wt: unknown): void {
  const root = checkFields(wt, "workflowTemplate", "WorkflowTemplate");
  if (root.apiVersion !== "argoproj.io/v1alpha1" || root.kind !== "WorkflowTemplate") {
    throw new RunnerError("not an argoproj.io/v1alpha1 WorkflowTemplate");
  }
  checkFields(root.metadata, "metadata", "metadata");
  const spec = checkFields((root as Obj).spec, "spec", "spec");
  if (spec.synchronization !== undefined) {
    const sync = checkFields(spec.synchronization, "synchronization", "spec.synchronization");
    list(sync.mutexes, "spec.synchronization.mutexes").forEach((m, i) => checkFields(m, "mutex", `spec.synchronization.mutexes[${i}]`));
  }
  if (spec.arguments !== undefined) {
    const args = checkFields(spec.arguments, "arguments", "spec.arguments");
    list(args.parameters, "spec.arguments.parameters").forEach((p, i) => checkFields(p, "workflowParameter", `spec.arguments.parameters[${i}]`));
  }
  checkVolumes(spec.volumes, "spec.volumes");
  list(spec.templates, "spec.templates").forEach((t, i) => checkTemplate(t, `spec.templates[${i}]`));
}

function checkVolumes(volumes: unknown, where: string): void {
  list(volumes, where).forEach((v, i) => {
    const vol = checkFields(v, "volume", `${where}[${i}]`);
    const kinds = ["emptyDir", "configMap", "secret"].filter((k) => vol[k] !== undefined);
    if (kinds.length !== 1) throw new RunnerError(`${where}[${i}]: exactly one of emptyDir, configMap, secret`);
    if (vol.emptyDir !== undefined) checkFields(vol.emptyDir, "emptyDir", `${where}[${i}].emptyDir`);
    if (vol.configMap !== undefined) {
      const cm = checkFields(vol.configMap, "configMapVolume", `${where}[${i}].configMap`);
      list(cm.items, "items").forEach((it, j) => checkFields(it, "keyToPath", `${where}[${i}].configMap.items[${j}]`));
    }
    if (vol.secret !== undefined) {
      const s = checkFields(vol.secret, "secretVolume", `${where}[${i}].secret`);
      list(s.items, "items").forEach((it, j) => checkFields(it, "keyToPath", `${where}[${i}].secret.items[${j}]`));
    }
  });
}

function checkArguments(args: unknown, where: string): void {
  if (args === undefined) return;
  const a = checkFields(args, "taskArguments", where);
  list(a.parameters, `${where}.parameters`).forEach((p, i) => checkFields(p, "argumentParameter", `${where}.parameters[${i}]`));
  list(a.artifacts, `${where}.artifacts`).forEach((p, i) => checkFields(p, "argumentArtifact", `${where}.artifacts[${i}]`));
}

function checkTemplate(t: unknown, where: string): void {
  const tmpl = checkFields(t, "template", where);
  checkVolumes(tmpl.volumes, `${where}.volumes`);
  const kinds = ["script", "dag", "steps", "resource"].filter((k) => tmpl[k] !== undefined);
  if (kinds.length !== 1) throw new RunnerError(`${where}: exactly one of script, dag, steps, resource (found ${kinds.join(", ") || "none"})`);
  if (tmpl.inputs !== undefined) {
    const inputs = checkFields(tmpl.inputs, "inputs", `${where}.inputs`);
    list(inputs.parameters, "").forEach((p, i) => checkFields(p, "inputParameter", `${where}.inputs.parameters[${i}]`));
    list(inputs.artifacts, "").forEach((p, i) => checkFields(p, "inputArtifact", `${where}.inputs.artifacts[${i}]`));
  }
  if (tmpl.outputs !== undefined) {
    const outputs = checkFields(tmpl.outputs, "outputs", `${where}.outputs`);
    list(outputs.parameters, "").forEach((p, i) => {
      const param = checkFields(p, "outputParameter", `${where}.outputs.parameters[${i}]`);
      checkFields(param.valueFrom, "outputValueFrom", `${where}.outputs.parameters[${i}].valueFrom`);
    });
    list(outputs.artifacts, "").forEach((p, i) => {
      const art = checkFields(p, "outputArtifact", `${where}.outputs.artifacts[${i}]`);
      if (art.archive !== undefined) checkFields(art.archive, "outputArtifactArchive", `${where}.outputs.artifacts[${i}].archive`);
      if (art.s3 !== undefined) checkFields(art.s3, "s3Artifact", `${where}.outputs.artifacts[${i}].s3`);
    });
  }
  if (tmpl.script !== undefined) {
    const script = checkFields(tmpl.script, "script", `${where}.script`);
    list(script.env, "").forEach((e, i) => {
      const env = checkFields(e, "env", `${where}.script.env[${i}]`);
      if (env.valueFrom !== undefined) {
        const vf = checkFields(env.valueFrom, "envValueFrom", `${where}.script.env[${i}].valueFrom`);
        if (Object.keys(vf).length !== 1) throw new RunnerError(`${where}.script.env[${i}].valueFrom: exactly one source`);
        if (vf.secretKeyRef !== undefined) checkFields(vf.secretKeyRef, "keyRef", `${where}.script.env[${i}].valueFrom.secretKeyRef`);
        if (vf.configMapKeyRef !== undefined) checkFields(vf.configMapKeyRef, "keyRef", `${where}.script.env[${i}].valueFrom.configMapKeyRef`);
        if (vf.fieldRef !== undefined) checkFields(vf.fieldRef, "fieldRef", `${where}.script.env[${i}].valueFrom.fieldRef`);
      }
    });
    list(script.volumeMounts, "").forEach((m, i) => checkFields(m, "volumeMount", `${where}.script.volumeMounts[${i}]`));
  }
  if (tmpl.dag !== undefined) {
    const dag = checkFields(tmpl.dag, "dag", `${where}.dag`);
    list(dag.tasks, "").forEach((task, i) => {
      const tk = checkFields(task, "dagTask", `${where}.dag.tasks[${i}]`);
      if (tk.templateRef !== undefined) checkFields(tk.templateRef, "templateRef", `${where}.dag.tasks[${i}].templateRef`);
      checkArguments(tk.arguments, `${where}.dag.tasks[${i}].arguments`);
    });
  }
  if (tmpl.steps !== undefined) {
    list(tmpl.steps, "").forEach((group, g) => list(group, "").forEach((step, i) => {
      const st = checkFields(step, "step", `${where}.steps[${g}][${i}]`);
      if (st.templateRef !== undefined) checkFields(st.templateRef, "templateRef", `${where}.steps[${g}][${i}].templateRef`);
      checkArguments(st.arguments, `${where}.steps[${g}][${i}].arguments`);
    }));
  }
  if (tmpl.resource !== undefined) checkFields(tmpl.resource, "resource", `${where}.resource`);
}

// ---------------------------------------------------------------------------------------------
// Types of a run.
// ---------------------------------------------------------------------------------------------

/** A call of the agent stand-in (a `templateRef` task or step). */
export interface AgentCall {
  /** The node's display name (the task or step name). */
  task: string;
  templateRef: { name: string; template: string; clusterScope?: boolean };
  /** The arguments after substitution. */
  parameters: Record<string, string>;
}

/** What the agent stand-in answers. */
export interface AgentOutcome {
  phase: "Succeeded" | "Failed" | "Error";
  message?: string;
  /** Output parameters the agent reports. */
  outputs?: Record<string, string>;
}

/** A `resource` template's action, after substitution. */
export interface ResourceCall {
  node: string;
  action: string;
  /** The manifest text after substitution. */
  manifest: string;
  /** The manifest parsed. */
  object: unknown;
}

/** A node of the run, as `argo get -o json` would show it (simplified). */
export interface NodeResult {
  id: string;
  /** Full name: `<workflow>`, `<workflow>.<task>`, `<parent>[i].<step>`, `<workflow>.onExit`. */
  name: string;
  displayName: string;
  type: "DAG" | "Steps" | "StepGroup" | "Pod" | "Skipped";
  /** The template name, or `name/template` for a templateRef. */
  templateName: string;
  phase: NodePhase;
  message?: string;
  startedAt?: string;
  finishedAt?: string;
  durationMs?: number;
  inputs: { parameters: Record<string, string>; artifacts: Record<string, string> };
  outputs: { parameters: Record<string, string>; artifacts: Record<string, string>; exitCode?: number };
  /** Tags Argo would have left as literal text in this node's template (see the module comment). */
  unresolved?: string[];
  children: string[];
  /** The script's stdout and stderr. */
  stdout?: string;
  stderr?: string;
  /** The env the container received (after substitution). */
  env?: Record<string, string>;
}

/** A whole run. */
export interface WorkflowResult {
  name: string;
  namespace: string;
  serviceAccountName?: string;
  phase: "Succeeded" | "Failed" | "Error";
  message?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  parameters: Record<string, string>;
  /** Global outputs (`globalName`). */
  outputs: Record<string, string>;
  /** Mutex names held during the run, after substitution. */
  mutexes: string[];
  nodes: NodeResult[];
  agentCalls: AgentCall[];
  resources: ResourceCall[];
}

/** Options of {@link runWorkflow}. */
export interface RunWorkflowOptions {
  /** Submitted parameters (`argo submit -p`). */
  parameters: Record<string, string>;
  /** The workflow's name. Defaults to `<template name>-` plus five random characters. */
  name?: string;
  /** The agent stand-in; required when the template has a `templateRef`. */
  agent?: (call: AgentCall) => AgentOutcome | Promise<AgentOutcome>;
  /** Answers a `resource` template with the object as the cluster shows it (status included). */
  resource?: (call: ResourceCall) => unknown;
  /** Secrets in the workflow's namespace: name to key to value (env secretKeyRef, secret volumes). */
  secrets?: Record<string, Record<string, string>>;
  /** ConfigMaps in the workflow's namespace: name to key to value. */
  configMaps?: Record<string, Record<string, string>>;
  /** Directories put first on PATH of every script (stand-ins). */
  pathPrepend?: string[];
  /** Extra environment of every script (stand-ins' own settings). */
  standInEnv?: Record<string, string>;
  /** Remove the pods' directories afterwards. Defaults to true. */
  removePods?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Template and scope helpers.
// ---------------------------------------------------------------------------------------------

interface Param { name: string; value?: string; default?: string; valueFrom?: Obj; globalName?: string }
interface Art { name: string; path?: string; optional?: boolean; from?: string }
interface OutParam extends Param { valueFrom?: { path?: string; jsonPath?: string; parameter?: string; default?: string } }
interface Task {
  name: string; template?: string; templateRef?: { name: string; template: string; clusterScope?: boolean };
  arguments?: { parameters?: Param[]; artifacts?: Art[] }; depends?: string; dependencies?: string[]; when?: string;
}
type Volume = { name: string; emptyDir?: Obj; configMap?: { name: string; items?: Array<{ key: string; path: string }>; optional?: boolean }; secret?: { secretName: string; items?: Array<{ key: string; path: string }>; optional?: boolean } };
interface Tmpl {
  name: string;
  volumes?: Volume[];
  inputs?: { parameters?: Param[]; artifacts?: Art[] };
  outputs?: { parameters?: OutParam[]; artifacts?: Art[] };
  activeDeadlineSeconds?: number;
  script?: { command?: string[]; source?: string; env?: Array<{ name: string; value?: string; valueFrom?: Obj }>; volumeMounts?: Array<{ name: string; mountPath: string }> } & Obj;
  dag?: { tasks: Task[] };
  steps?: Task[][];
  resource?: { action: string; manifest?: string; successCondition?: string; failureCondition?: string };
}
interface Spec {
  entrypoint: string;
  onExit?: string;
  serviceAccountName?: string;
  activeDeadlineSeconds?: number;
  arguments?: { parameters?: Param[] };
  synchronization?: { mutexes?: Array<{ name: string }> };
  volumes?: Volume[];
  templates: Tmpl[];
}

/** The declared dependencies of a DAG task. */
function taskDependencies(task: Task): string[] {
  if (task.depends !== undefined && task.dependencies !== undefined) {
    throw new RunnerError(`task ${task.name}: both depends and dependencies`);
  }
  if (task.depends !== undefined) return dependsTasks(task.depends);
  return task.dependencies ?? [];
}

/** A `dependencies` list is the `depends` expression `A && B`. */
const dependsExpression = (task: Task): string | undefined =>
  task.depends ?? (task.dependencies && task.dependencies.length > 0 ? task.dependencies.join(" && ") : undefined);

/** All transitive dependencies of a task. */
function ancestors(tasks: Task[], name: string): string[] {
  const byName = new Map(tasks.map((t) => [t.name, t]));
  const seen = new Set<string>();
  const visit = (n: string, trail: string[]) => {
    const t = byName.get(n);
    if (!t) throw new RunnerError(`dag: task ${trail.at(-1)} depends on unknown task ${n}`);
    for (const d of taskDependencies(t)) {
      if (trail.includes(d)) throw new RunnerError(`dag: dependency cycle ${[...trail, d].join(" -> ")}`);
      if (!seen.has(d)) { seen.add(d); visit(d, [...trail, d]); }
    }
  };
  visit(name, [name]);
  return [...seen];
}

const GLOBAL_STATIC = ["workflow.name", "workflow.namespace", "workflow.serviceAccountName", "workflow.uid", "workflow.parameters", "workflow.creationTimestamp"];

function randomSuffix(): string {
  const chars = "bcdfghjklmnpqrstvwxz2456789";
  return Array.from({ length: 5 }, () => chars[Math.floor(Math.random() * chars.length)]).join("");
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

/** Held mutexes of this process: name to the promise that resolves when released. */
const heldMutexes = new Map<string, Promise<void>>();

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

class Execution {
  readonly nodes: NodeResult[] = [];
  readonly agentCalls: AgentCall[] = [];
  readonly resources: ResourceCall[] = [];
  readonly globals: Record<string, string> = {};
  readonly globalOutputs: Record<string, string> = {};
  readonly pods: string[] = [];
  private readonly templates: Map<string, Tmpl>;
  private readonly declaredGlobals: Set<string>;
  private readonly startedMs = Date.now();

  constructor(readonly spec: Spec, readonly name: string, readonly namespace: string, readonly options: RunWorkflowOptions) {
    this.templates = new Map(spec.templates.map((t) => [t.name, t]));
    if (this.templates.size !== spec.templates.length) throw new RunnerError("spec.templates: duplicate template names");
    this.declaredGlobals = new Set(spec.templates.flatMap((t) => (t.outputs?.parameters ?? []).flatMap((p) => (p.globalName ? [p.globalName] : []))));
  }

  template(name: string, where: string): Tmpl {
    const t = this.templates.get(name);
    if (!t) throw new RunnerError(`${where}: no template ${name}`);
    return t;
  }

  // -- submission-time validation ------------------------------------------------------------

  /** The global names in scope at submission (`workflow.status`/`failures` only for the exit handler). */
  private globalScope(exit: boolean): Set<string> {
    const s = new Set(GLOBAL_STATIC);
    for (const p of this.spec.arguments?.parameters ?? []) s.add(`workflow.parameters.${p.name}`);
    for (const g of this.declaredGlobals) s.add(`workflow.outputs.parameters.${g}`);
    if (exit) { s.add("workflow.status"); s.add("workflow.failures"); }
    return s;
  }

  private checkTags(value: unknown, scope: Set<string>, where: string): void {
    for (const tag of tagsIn(JSON.stringify(value))) {
      if (!scope.has(tag)) throw new RunnerError(`${where}: failed to resolve {{${tag}}}`);
    }
  }

  private leafScope(t: Tmpl, exit: boolean): Set<string> {
    const s = this.globalScope(exit);
    for (const p of t.inputs?.parameters ?? []) s.add(`inputs.parameters.${p.name}`);
    s.add("inputs.parameters");
    for (const a of t.inputs?.artifacts ?? []) s.add(`inputs.artifacts.${a.name}.path`);
    for (const p of t.outputs?.parameters ?? []) if (p.valueFrom?.path) s.add(`outputs.parameters.${p.name}.path`);
    for (const a of t.outputs?.artifacts ?? []) s.add(`outputs.artifacts.${a.name}.path`);
    return s;
  }

  /** Validates a template reachable from the entrypoint or the exit handler, as `argo submit` does. */
  validate(name: string, exit: boolean, seen = new Set<string>()): void {
    if (seen.has(`${name}/${exit}`)) return;
    seen.add(`${name}/${exit}`);
    const t = this.template(name, "validate");
    const where = `templates.${t.name}`;
    if (t.script || t.resource) {
      for (const p of t.outputs?.parameters ?? []) {
        if (p.valueFrom?.parameter !== undefined) throw new RunnerError(`${where}.outputs.parameters.${p.name}: valueFrom.parameter is for steps and dag templates`);
      }
      for (const a of t.outputs?.artifacts ?? []) {
        if (a.from !== undefined) throw new RunnerError(`${where}.outputs.artifacts.${a.name}: from is for steps and dag templates`);
      }
      const { dag: _d, steps: _s, ...leaf } = t;
      this.checkTags(leaf, this.leafScope(t, exit), where);
      if (t.script && (t.script.source ?? "").includes("{{")) throw new RunnerError(`${where}.script.source contains {{`);
      return;
    }
    const own = this.leafScope(t, exit);
    if (t.dag) {
      const tasks = t.dag.tasks;
      const names = new Set<string>();
      for (const task of tasks) {
        if (names.has(task.name)) throw new RunnerError(`${where}.dag: duplicate task ${task.name}`);
        names.add(task.name);
      }
      const all = new Set(own);
      for (const task of tasks) this.addTaskScope(all, "tasks", task.name, task);
      this.checkTags(t.outputs ?? {}, all, `${where}.outputs`);
      for (const task of tasks) {
        if (!task.template === !task.templateRef) throw new RunnerError(`${where}.dag.tasks.${task.name}: exactly one of template, templateRef`);
        const scope = new Set(own);
        for (const a of ancestors(tasks, task.name)) this.addTaskScope(scope, "tasks", a, tasks.find((x) => x.name === a)!);
        this.checkTags(task, scope, `${where}.dag.tasks.${task.name}`);
        if (task.template) {
          this.checkArguments(task, this.template(task.template, `${where}.dag.tasks.${task.name}`), `${where}.dag.tasks.${task.name}`);
          this.validate(task.template, exit, seen);
        }
      }
    }
    if (t.steps) {
      const scope = new Set(own);
      for (const [g, group] of t.steps.entries()) {
        for (const step of group) {
          if (!step.template === !step.templateRef) throw new RunnerError(`${where}.steps[${g}].${step.name}: exactly one of template, templateRef`);
          this.checkTags(step, scope, `${where}.steps[${g}].${step.name}`);
          if (step.template) {
            this.checkArguments(step, this.template(step.template, `${where}.steps.${step.name}`), `${where}.steps[${g}].${step.name}`);
            this.validate(step.template, exit, seen);
          }
        }
        for (const step of group) this.addTaskScope(scope, "steps", step.name, step);
      }
      this.checkTags(t.outputs ?? {}, scope, `${where}.outputs`);
    }
  }

  private addTaskScope(scope: Set<string>, prefix: "tasks" | "steps", name: string, task: Task): void {
    scope.add(`${prefix}.${name}.status`);
    if (!task.template) return; // an agent stand-in declares no outputs
    const t = this.template(task.template, `${prefix}.${name}`);
    for (const p of t.outputs?.parameters ?? []) scope.add(`${prefix}.${name}.outputs.parameters.${p.name}`);
    for (const a of t.outputs?.artifacts ?? []) scope.add(`${prefix}.${name}.outputs.artifacts.${a.name}`);
  }

  private checkArguments(task: Task, t: Tmpl, where: string): void {
    const inputs = new Set((t.inputs?.parameters ?? []).map((p) => p.name));
    for (const p of task.arguments?.parameters ?? []) {
      if (!inputs.has(p.name)) throw new RunnerError(`${where}: argument ${p.name} is not an input of template ${t.name}`);
    }
    const artifacts = new Set((t.inputs?.artifacts ?? []).map((a) => a.name));
    for (const a of task.arguments?.artifacts ?? []) {
      if (!artifacts.has(a.name)) throw new RunnerError(`${where}: artifact ${a.name} is not an input of template ${t.name}`);
    }
  }

  // -- nodes -------------------------------------------------------------------------------------

  private node(name: string, displayName: string, type: NodeResult["type"], templateName: string, parent?: NodeResult): NodeResult {
    const n: NodeResult = {
      id: `${this.name}-${this.nodes.length}`,
      name, displayName, type, templateName, phase: "Pending",
      inputs: { parameters: {}, artifacts: {} }, outputs: { parameters: {}, artifacts: {} }, children: [],
    };
    this.nodes.push(n);
    parent?.children.push(n.id);
    return n;
  }

  private start(n: NodeResult): number {
    n.phase = "Running";
    const t = Date.now();
    n.startedAt = iso(t);
    return t;
  }

  private finish(n: NodeResult, phase: NodePhase, t0: number, message?: string): NodeResult {
    n.phase = phase;
    if (message) n.message = message;
    const t = Date.now();
    n.finishedAt = iso(t);
    n.durationMs = t - t0;
    return n;
  }

  /** A node that never ran (Omitted or Skipped). */
  private skipped(name: string, displayName: string, templateName: string, phase: "Omitted" | "Skipped", message: string, parent: NodeResult): NodeResult {
    const n = this.node(name, displayName, "Skipped", templateName, parent);
    const t = Date.now();
    n.startedAt = iso(t);
    return this.finish(n, phase, t, message);
  }

  // -- substitution ------------------------------------------------------------------------------

  /**
   * Substitutes a template as `ProcessArgs` + `SubstituteParams`: globals, then inputs, unknown tags
   * left in place; returns the tags of the original that stayed unresolved.
   */
  private substituteTemplate(t: Tmpl, globals: Record<string, string>, inputs: Record<string, string>): { tmpl: Tmpl; unresolved: string[] } {
    const inputMap: Record<string, string> = {};
    for (const [k, v] of Object.entries(inputs)) inputMap[`inputs.parameters.${k}`] = v;
    inputMap["inputs.parameters"] = JSON.stringify(Object.entries(inputs).map(([name, value]) => ({ name, value })));
    for (const a of t.inputs?.artifacts ?? []) if (a.path) inputMap[`inputs.artifacts.${a.name}.path`] = a.path;
    for (const p of t.outputs?.parameters ?? []) if (p.valueFrom?.path) inputMap[`outputs.parameters.${p.name}.path`] = String(p.valueFrom.path);
    for (const a of t.outputs?.artifacts ?? []) if (a.path) inputMap[`outputs.artifacts.${a.name}.path`] = a.path;
    // The leaf's own fields only; a dag's tasks and a steps' steps are substituted per task later.
    const { dag, steps, ...own } = t;
    const once = replaceInJson(own, globals);
    const twice = replaceInJson(once, inputMap);
    const known = { ...globals, ...inputMap };
    // A steps or dag template's outputs refer to its children; they are resolved once those ran.
    const checked = dag || steps ? { ...own, outputs: undefined } : own;
    const unresolved = [...new Set(tagsIn(JSON.stringify(checked)).filter((tag) => !(tag in known)))];
    return { tmpl: { ...twice, ...(dag ? { dag } : {}), ...(steps ? { steps } : {}) } as Tmpl, unresolved };
  }

  /** Unresolved tags Argo leaves literal: only global outputs that were never set. */
  private checkUnresolved(unresolved: string[], where: string): string[] {
    for (const tag of unresolved) {
      if (!tag.startsWith("workflow.outputs.parameters.")) {
        throw new RunnerError(`${where}: {{${tag}}} has no value at run time`);
      }
    }
    return unresolved;
  }

  // -- execution ---------------------------------------------------------------------------------

  /** Runs a template (by task/step or entrypoint) as one node. */
  async execute(
    holder: Task, nodeName: string, displayName: string, parent: NodeResult | undefined,
    globals: Record<string, string>, artifactsFrom: Record<string, string>,
  ): Promise<NodeResult> {
    if (holder.templateRef) return this.executeAgent(holder, nodeName, displayName, parent!);
    const t = this.template(holder.template!, nodeName);
    const type: NodeResult["type"] = t.dag ? "DAG" : t.steps ? "Steps" : "Pod";
    const n = this.node(nodeName, displayName, type, t.name, parent);
    const t0 = this.start(n);
    if (this.spec.activeDeadlineSeconds !== undefined && Date.now() - this.startedMs > this.spec.activeDeadlineSeconds * 1000) {
      return this.finish(n, "Failed", t0, "Step exceeded its deadline");
    }
    // ProcessArgs: inputs take the argument, else the default; a missing one is an error.
    const inputs: Record<string, string> = {};
    for (const p of t.inputs?.parameters ?? []) {
      const arg = holder.arguments?.parameters?.find((a) => a.name === p.name);
      const value = arg?.value ?? p.value;
      if (value === undefined) return this.finish(n, "Error", t0, `inputs.parameters.${p.name} was not supplied`);
      inputs[p.name] = String(value);
    }
    n.inputs.parameters = { ...inputs };
    for (const a of t.inputs?.artifacts ?? []) {
      const src = artifactsFrom[a.name];
      if (src === undefined && !a.optional) return this.finish(n, "Error", t0, `inputs.artifacts.${a.name} was not supplied`);
      if (src !== undefined) n.inputs.artifacts[a.name] = src;
    }
    const { tmpl, unresolved } = this.substituteTemplate(t, globals, inputs);
    const literal = this.checkUnresolved(unresolved, `templates.${t.name}`);
    if (literal.length > 0) n.unresolved = literal;

    if (tmpl.script) return this.runScript(n, t0, tmpl, inputs);
    if (tmpl.resource) return this.runResource(n, t0, tmpl);
    if (tmpl.dag) return this.runDag(n, t0, tmpl, globals, inputs);
    return this.runSteps(n, t0, tmpl, globals, inputs);
  }

  private async executeAgent(holder: Task, nodeName: string, displayName: string, parent: NodeResult): Promise<NodeResult> {
    const ref = holder.templateRef!;
    const n = this.node(nodeName, displayName, "Pod", `${ref.name}/${ref.template}`, parent);
    const t0 = this.start(n);
    if (!this.options.agent) throw new RunnerError(`${nodeName}: templateRef ${ref.name}/${ref.template} needs the agent stand-in (option agent)`);
    const parameters: Record<string, string> = {};
    for (const p of holder.arguments?.parameters ?? []) {
      if (p.value === undefined) throw new RunnerError(`${nodeName}: argument ${p.name} has no value`);
      parameters[p.name] = String(p.value);
    }
    n.inputs.parameters = { ...parameters };
    const call: AgentCall = { task: displayName, templateRef: { ...ref }, parameters };
    this.agentCalls.push(call);
    const outcome = await this.options.agent(call);
    n.outputs.parameters = { ...(outcome.outputs ?? {}) };
    return this.finish(n, outcome.phase, t0, outcome.message);
  }

  /** Fills `dir` with a configMap or secret volume's files. */
  private materializeVolume(vol: Volume, dir: string): void {
    const name = vol.name;
    mkdirSync(dir, { recursive: true });
    const fill = (source: Record<string, string> | undefined, items: Array<{ key: string; path: string }> | undefined, optional: boolean | undefined, what: string) => {
      if (!source) {
        if (optional) return;
        throw new RunnerError(`volume ${name}: ${what} does not exist (give it in the runner's options)`);
      }
      const entries = items ? items.map((i) => [i.path, source[i.key]] as const) : Object.entries(source);
      for (const [file, value] of entries) {
        if (value === undefined) throw new RunnerError(`volume ${name}: ${what} has no such key`);
        mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
        writeFileSync(path.join(dir, file), value, { mode: 0o400 });
      }
    };
    if (vol.configMap) fill(this.options.configMaps?.[vol.configMap.name], vol.configMap.items, vol.configMap.optional, `ConfigMap ${vol.configMap.name}`);
    if (vol.secret) fill(this.options.secrets?.[vol.secret.secretName], vol.secret.items, vol.secret.optional, `Secret ${vol.secret.secretName}`);
  }

  private async runScript(n: NodeResult, t0: number, tmpl: Tmpl, inputs: Record<string, string>): Promise<NodeResult> {
    const script = tmpl.script!;
    // The pod's root stands for the scratch mount; every other mount becomes a directory inside it,
    // and env values under a mount path are moved there (the harness then re-roots them on the host).
    const root = mkdtempSync(path.join(tmpdir(), `pod-${tmpl.name}-`));
    this.pods.push(root);
    const mounts: Array<[string, string]> = [];
    for (const [i, m] of (script.volumeMounts ?? []).entries()) {
      const vol = [...(tmpl.volumes ?? []), ...(this.spec.volumes ?? [])].find((v) => v.name === m.name);
      if (!vol) throw new RunnerError(`templates.${tmpl.name}: volumeMount ${m.name} is declared in neither the template's nor the workflow's volumes`);
      if (m.mountPath === SCRATCH_DIR) {
        if (!vol.emptyDir) throw new RunnerError(`templates.${tmpl.name}: ${SCRATCH_DIR} must be an emptyDir`);
        continue;
      }
      const inPod = `${SCRATCH_DIR}/.mounts/${i}`;
      if (vol.emptyDir) mkdirSync(path.join(root, ".mounts", String(i)), { recursive: true });
      else this.materializeVolume(vol, path.join(root, ".mounts", String(i)));
      mounts.push([m.mountPath, inPod]);
    }
    const env = (script.env ?? []).map((e) => {
      let value: string;
      if (e.valueFrom) value = this.envFrom(e.valueFrom as Obj, `templates.${tmpl.name} env ${e.name}`);
      else value = e.value ?? "";
      for (const [mountPath, host] of mounts) {
        if (value === mountPath || value.startsWith(`${mountPath}/`)) value = host + value.slice(mountPath.length);
      }
      return { name: e.name, value };
    });
    const runnable = { ...tmpl, script: { ...script, env } } as unknown as ITemplate;
    const timeoutMs = tmpl.activeDeadlineSeconds !== undefined ? tmpl.activeDeadlineSeconds * 1000 : undefined;
    const r = await runScriptTemplate(runnable, {
      parameters: inputs,
      artifacts: n.inputs.artifacts,
      pathPrepend: this.options.pathPrepend,
      standInEnv: this.options.standInEnv,
      envSubstituted: true,
      root,
      ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    });
    n.stdout = r.stdout;
    n.stderr = r.stderr;
    n.env = r.env;
    n.outputs.exitCode = r.code;
    for (const [k, v] of Object.entries(r.outputs)) n.outputs.parameters[k] = v.endsWith("\n") ? v.slice(0, -1) : v;
    n.outputs.artifacts = { ...r.artifacts };
    this.publishGlobals(tmpl, n);
    if (timeoutMs !== undefined && r.code === 137 && Date.now() - t0 >= timeoutMs) {
      return this.finish(n, "Failed", t0, "Pod was active on the node longer than the specified deadline");
    }
    if (r.code !== 0) return this.finish(n, "Failed", t0, `Error (exit code ${r.code})`);
    for (const p of tmpl.outputs?.parameters ?? []) {
      if (!(p.name in n.outputs.parameters)) {
        if (p.valueFrom?.default !== undefined) { n.outputs.parameters[p.name] = String(p.valueFrom.default); continue; }
        return this.finish(n, "Error", t0, `open ${String(p.valueFrom?.path)}: no such file or directory`);
      }
    }
    for (const a of tmpl.outputs?.artifacts ?? []) {
      if (!(a.name in n.outputs.artifacts) && !a.optional) return this.finish(n, "Error", t0, `open ${a.path}: no such file or directory`);
    }
    return this.finish(n, "Succeeded", t0);
  }

  private envFrom(vf: Obj, where: string): string {
    const ref = (vf.secretKeyRef ?? vf.configMapKeyRef) as { name: string; key: string; optional?: boolean } | undefined;
    if (ref) {
      const store = vf.secretKeyRef ? this.options.secrets : this.options.configMaps;
      const value = store?.[ref.name]?.[ref.key];
      if (value === undefined) {
        if (ref.optional) return "";
        throw new RunnerError(`${where}: ${vf.secretKeyRef ? "Secret" : "ConfigMap"} ${ref.name} key ${ref.key} does not exist (give it in the runner's options)`);
      }
      return value;
    }
    const field = (vf.fieldRef as { fieldPath: string }).fieldPath;
    if (field === "metadata.namespace") return this.namespace;
    throw new RunnerError(`${where}: fieldRef ${field} is not understood by the e2e runner`);
  }

  private publishGlobals(tmpl: Tmpl, n: NodeResult): void {
    for (const p of tmpl.outputs?.parameters ?? []) {
      if (p.globalName && p.name in n.outputs.parameters) {
        this.globalOutputs[p.globalName] = n.outputs.parameters[p.name];
        this.globals[`workflow.outputs.parameters.${p.globalName}`] = n.outputs.parameters[p.name];
      }
    }
  }

  private async runResource(n: NodeResult, t0: number, tmpl: Tmpl): Promise<NodeResult> {
    const res = tmpl.resource!;
    if (!["get", "create", "apply", "delete", "replace", "patch"].includes(res.action)) {
      throw new RunnerError(`templates.${tmpl.name}.resource.action ${res.action} is not an Argo action`);
    }
    const manifest = res.manifest ?? "";
    const call: ResourceCall = { node: n.name, action: res.action, manifest, object: manifest ? parseYaml(manifest) : undefined };
    this.resources.push(call);
    if (!this.options.resource) throw new RunnerError(`${n.name}: a resource template needs the option resource (the scripted cluster)`);
    const live = await this.options.resource(call);
    for (const p of tmpl.outputs?.parameters ?? []) {
      const jp = p.valueFrom?.jsonPath;
      if (typeof jp !== "string") throw new RunnerError(`templates.${tmpl.name}.outputs.parameters.${p.name}: a resource template reads jsonPath`);
      const m = /^\{\.(.+)\}$/.exec(jp);
      if (!m) throw new RunnerError(`templates.${tmpl.name}.outputs.parameters.${p.name}: jsonPath ${jp} is not a simple {.a.b} path`);
      const { exists, value } = jsonPathValue(live, m[1]);
      if (exists) n.outputs.parameters[p.name] = value;
    }
    if (res.failureCondition && matchesCondition(live, res.failureCondition)) {
      return this.finish(n, "Failed", t0, `failure condition '${res.failureCondition}' matched`);
    }
    if (res.successCondition && !matchesCondition(live, res.successCondition)) {
      // Argo keeps polling until the deadline; the scripted status is final, so that is where it ends.
      return this.finish(n, "Failed", t0, "Pod was active on the node longer than the specified deadline");
    }
    for (const p of tmpl.outputs?.parameters ?? []) {
      if (!(p.name in n.outputs.parameters)) return this.finish(n, "Error", t0, `jsonPath ${String(p.valueFrom?.jsonPath)} has no value`);
    }
    this.publishGlobals(tmpl, n);
    return this.finish(n, "Succeeded", t0);
  }

  /** The scope a task sees from one completed task or step. */
  private addNodeScope(scope: Record<string, string>, artifacts: Record<string, string>, prefix: string, n: NodeResult): void {
    scope[`${prefix}.status`] = n.phase;
    for (const [k, v] of Object.entries(n.outputs.parameters)) scope[`${prefix}.outputs.parameters.${k}`] = v;
    for (const [k, v] of Object.entries(n.outputs.artifacts)) artifacts[`${prefix}.outputs.artifacts.${k}`] = v;
  }

  /**
   * The outputs of a steps or dag template from its children (`getTemplateOutputsFromScope`):
   * `valueFrom.parameter` and artifacts' `from` resolved in the scope of its steps or tasks; a
   * reference without a value is an error unless a default (or `optional`) covers it.
   */
  private outputsFromScope(n: NodeResult, tmpl: Tmpl, scope: Record<string, string>, artifactScope: Record<string, string>): string | undefined {
    for (const p of tmpl.outputs?.parameters ?? []) {
      const ref = p.valueFrom?.parameter;
      if (ref === undefined) return `outputs.parameters.${p.name}: a steps or dag template reads valueFrom.parameter`;
      const map = { ...this.globals, ...scope };
      const missing = tagsIn(ref).filter((tag) => !(tag in map));
      if (missing.length > 0) {
        if (p.valueFrom?.default === undefined) return `Unable to resolve: {{${missing[0]}}}`;
        n.outputs.parameters[p.name] = String(p.valueFrom.default);
      } else n.outputs.parameters[p.name] = replaceInJson(ref, map);
    }
    for (const a of tmpl.outputs?.artifacts ?? []) {
      const m = /^\{\{\s*([^{}]+?)\s*\}\}$/.exec(a.from ?? "");
      if (!m) return `outputs.artifacts.${a.name}: from '${a.from}' is not a single reference`;
      const host = artifactScope[m[1]];
      if (host === undefined) {
        if (a.optional) continue;
        return `Unable to resolve: ${a.from}`;
      }
      n.outputs.artifacts[a.name] = host;
    }
    this.publishGlobals(tmpl, n);
    return undefined;
  }

  /** Substitutes a task (`resolveDependencyReferences`) and resolves its artifacts' `from`. */
  private resolveTask(task: Task, map: Record<string, string>, artifactMap: Record<string, string>, where: string): { task: Task; artifacts: Record<string, string> } {
    const resolved = replaceInJson(task, map);
    const unresolved = tagsIn(JSON.stringify(task)).filter((tag) => !(tag in map) && !(tag in artifactMap));
    this.checkUnresolved(unresolved, where);
    const artifacts: Record<string, string> = {};
    for (const a of task.arguments?.artifacts ?? []) {
      const m = /^\{\{\s*([^{}]+?)\s*\}\}$/.exec(a.from ?? "");
      if (!m) throw new RunnerError(`${where}: artifact ${a.name}: from '${a.from}' is not a single reference`);
      const host = artifactMap[m[1]];
      if (host === undefined) throw new RunnerError(`${where}: artifact ${a.name}: Unable to resolve artifact from ${a.from}`);
      artifacts[a.name] = host;
    }
    return { task: resolved, artifacts };
  }

  private async runDag(n: NodeResult, t0: number, tmpl: Tmpl, globals: Record<string, string>, inputs: Record<string, string>): Promise<NodeResult> {
    const tasks = tmpl.dag!.tasks;
    const byName = new Map<string, NodeResult>();
    const effective = new Map<string, NodePhase>();
    const scope: Record<string, string> = {};
    const artifactScope: Record<string, string> = {};
    const base: Record<string, string> = { ...globals };
    for (const [k, v] of Object.entries(inputs)) base[`inputs.parameters.${k}`] = v;
    const pending = new Set(tasks.map((t) => t.name));
    while (pending.size > 0) {
      const ready = tasks.filter((t) => pending.has(t.name) && taskDependencies(t).every((d) => fulfilled(byName.get(d)?.phase)));
      if (ready.length === 0) throw new RunnerError(`${n.name}: no task can run (${[...pending].join(", ")})`);
      await Promise.all(ready.map(async (task) => {
        pending.delete(task.name);
        const deps = taskDependencies(task);
        const phases = Object.fromEntries(deps.map((d) => [d, byName.get(d)!.phase]));
        const expr = dependsExpression(task);
        const nodeName = `${n.name}.${task.name}`;
        const templateName = task.template ?? `${task.templateRef!.name}/${task.templateRef!.template}`;
        if (expr !== undefined && !evaluateDepends(expr, phases)) {
          byName.set(task.name, this.skipped(nodeName, task.name, templateName, "Omitted", "omitted: depends condition not met", n));
          // An omitted task inherits its dependencies' phase, Failed or Error first (assessDAGPhase).
          const inherited = deps.map((d) => effective.get(d)!).find((p) => p === "Failed" || p === "Error") ?? "Omitted";
          effective.set(task.name, inherited);
          return;
        }
        const { task: resolved, artifacts } = this.resolveTask(task, { ...base, ...scope, ...this.globals }, artifactScope, nodeName);
        if (resolved.when !== undefined && !evaluateWhen(resolved.when)) {
          byName.set(task.name, this.skipped(nodeName, task.name, templateName, "Skipped", `when '${resolved.when}' evaluated false`, n));
          effective.set(task.name, "Skipped");
          return;
        }
        const child = await this.execute(resolved, nodeName, task.name, n, { ...globals, ...this.globals }, artifacts);
        byName.set(task.name, child);
        effective.set(task.name, child.phase);
        this.addNodeScope(scope, artifactScope, `tasks.${task.name}`, child);
      }));
    }
    const depended = new Set(tasks.flatMap(taskDependencies));
    const targets = tasks.filter((t) => !depended.has(t.name));
    const bad = targets.map((t) => ({ t, p: effective.get(t.name)! })).find(({ p }) => p === "Failed" || p === "Error");
    if (bad) {
      const failed = tasks.map((t) => byName.get(t.name)!).find((x) => x.phase === "Failed" || x.phase === "Error");
      return this.finish(n, bad.p, t0, `child '${failed?.name ?? bad.t.name}' failed`);
    }
    const error = this.outputsFromScope(n, tmpl, scope, artifactScope);
    return error ? this.finish(n, "Error", t0, error) : this.finish(n, "Succeeded", t0);
  }

  private async runSteps(n: NodeResult, t0: number, tmpl: Tmpl, globals: Record<string, string>, inputs: Record<string, string>): Promise<NodeResult> {
    const scope: Record<string, string> = {};
    const artifactScope: Record<string, string> = {};
    const base: Record<string, string> = { ...globals };
    for (const [k, v] of Object.entries(inputs)) base[`inputs.parameters.${k}`] = v;
    for (const [g, group] of tmpl.steps!.entries()) {
      const groupNode = this.node(`${n.name}[${g}]`, `[${g}]`, "StepGroup", tmpl.name, n);
      const tg = this.start(groupNode);
      const results = await Promise.all(group.map(async (step) => {
        const nodeName = `${n.name}[${g}].${step.name}`;
        const templateName = step.template ?? `${step.templateRef!.name}/${step.templateRef!.template}`;
        const { task: resolved, artifacts } = this.resolveTask(step, { ...base, ...scope, ...this.globals }, artifactScope, nodeName);
        if (resolved.when !== undefined && !evaluateWhen(resolved.when)) {
          return this.skipped(nodeName, step.name, templateName, "Skipped", `when '${resolved.when}' evaluated false`, groupNode);
        }
        return this.execute(resolved, nodeName, step.name, groupNode, { ...globals, ...this.globals }, artifacts);
      }));
      group.forEach((step, i) => this.addNodeScope(scope, artifactScope, `steps.${step.name}`, results[i]));
      const failed = results.find((r) => r.phase === "Failed" || r.phase === "Error");
      if (failed) {
        this.finish(groupNode, failed.phase, tg, `child '${failed.name}' failed`);
        return this.finish(n, failed.phase, t0, `child '${failed.name}' failed`);
      }
      this.finish(groupNode, "Succeeded", tg);
    }
    const error = this.outputsFromScope(n, tmpl, scope, artifactScope);
    return error ? this.finish(n, "Error", t0, error) : this.finish(n, "Succeeded", t0);
  }
}

/** The `{{workflow.failures}}` JSON of a run so far (failed and errored nodes). */
function failuresJson(nodes: NodeResult[]): string {
  return JSON.stringify(nodes.filter((x) => x.phase === "Failed" || x.phase === "Error").map((x) => ({
    displayName: x.displayName, message: x.message ?? "", templateName: x.templateName, phase: x.phase,
    podName: x.type === "Pod" ? x.id : "", finishedAt: x.finishedAt ?? "",
  })));
}

/**
 * Runs the WorkflowTemplate as `argo submit --from workflowtemplate/<name>` would, offline.
 * Throws {@link RunnerError} when it meets something it cannot execute faithfully; otherwise returns
 * the run, whatever its phase.
 */
export async function runWorkflow(workflowTemplate: unknown, options: RunWorkflowOptions): Promise<WorkflowResult> {
  checkWorkflowTemplate(workflowTemplate);
  const wt = workflowTemplate as { metadata: { name: string; namespace?: string }; spec: Spec };
  const spec = wt.spec;
  const name = options.name ?? `${wt.metadata.name}-${randomSuffix()}`;
  const namespace = wt.metadata.namespace ?? "default";
  const exec = new Execution(spec, name, namespace, options);

  // argo submit: parameters, then validation of every reachable template.
  const declared = spec.arguments?.parameters ?? [];
  for (const key of Object.keys(options.parameters)) {
    if (!declared.some((p) => p.name === key)) throw new RunnerError(`parameter ${key} is not declared by the WorkflowTemplate`);
  }
  const parameters: Record<string, string> = {};
  for (const p of declared) {
    const value = options.parameters[p.name] ?? p.value;
    if (value === undefined) throw new RunnerError(`spec.arguments.${p.name}.value is required`);
    parameters[p.name] = String(value);
  }
  exec.validate(spec.entrypoint, false);
  if (spec.onExit) exec.validate(spec.onExit, true);

  const g = exec.globals;
  g["workflow.name"] = name;
  g["workflow.namespace"] = namespace;
  g["workflow.serviceAccountName"] = spec.serviceAccountName ?? "default";
  g["workflow.uid"] = `00000000-0000-4000-8000-${Buffer.from(name).toString("hex").slice(0, 12).padEnd(12, "0")}`;
  const started = Date.now();
  g["workflow.creationTimestamp"] = iso(started);
  for (const [k, v] of Object.entries(parameters)) g[`workflow.parameters.${k}`] = v;
  g["workflow.parameters"] = JSON.stringify(declared.map((p) => ({ name: p.name, value: parameters[p.name] })));

  // Synchronization: the mutex names are substituted with the workflow's globals.
  const mutexes = (spec.synchronization?.mutexes ?? []).map((m) => replaceInJson(m.name, g));
  for (const m of mutexes) {
    if (tagsIn(m).length > 0) throw new RunnerError(`mutex ${m}: unresolved reference`);
  }
  const releases: Array<() => void> = [];
  for (const m of mutexes) {
    while (heldMutexes.has(m)) await heldMutexes.get(m);
    let release!: () => void;
    heldMutexes.set(m, new Promise<void>((resolve) => (release = () => { heldMutexes.delete(m); resolve(); })));
    releases.push(release);
  }
  try {
    const main = await exec.execute({ name, template: spec.entrypoint }, name, name, undefined, { ...g }, {});
    let phase: WorkflowResult["phase"] = main.phase === "Failed" ? "Failed" : main.phase === "Error" ? "Error" : "Succeeded";
    let message = main.message;
    if (spec.onExit) {
      const exitGlobals = { ...g, "workflow.status": phase, "workflow.failures": failuresJson(exec.nodes) };
      const onExit = await exec.execute({ name: "onExit", template: spec.onExit }, `${name}.onExit`, `${name}.onExit`, undefined, exitGlobals, {});
      if (phase === "Succeeded" && (onExit.phase === "Failed" || onExit.phase === "Error")) {
        phase = onExit.phase;
        message = onExit.message;
      }
    }
    const finished = Date.now();
    return {
      name, namespace, serviceAccountName: spec.serviceAccountName, phase, ...(message ? { message } : {}),
      startedAt: iso(started), finishedAt: iso(finished), durationMs: finished - started,
      parameters, outputs: { ...exec.globalOutputs }, mutexes, nodes: exec.nodes, agentCalls: exec.agentCalls, resources: exec.resources,
    };
  } finally {
    for (const r of releases) r();
    if (options.removePods ?? true) for (const dir of exec.pods) rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Printing, like `argo get`.
// ---------------------------------------------------------------------------------------------

const SYMBOL: Record<NodePhase, string> = {
  Succeeded: "✔", Failed: "✖", Error: "⚠", Skipped: "○", Omitted: "○", Running: "●", Pending: "◷",
};

/** A duration as `argo get` prints it: `4s`, `1m 2s`. */
export function formatDuration(ms: number | undefined): string {
  if (ms === undefined) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m ${s % 60}s`;
}

/** The run as `argo get` prints it: a header, then a tree of nodes with phases and durations. */
export function formatTree(result: WorkflowResult): string {
  const pad = (s: string, n: number) => s + " ".repeat(Math.max(1, n - [...s].length));
  const header = [
    ["Name:", result.name],
    ["Namespace:", result.namespace],
    ["ServiceAccount:", result.serviceAccountName ?? "default"],
    ["Status:", result.phase],
    ...(result.message ? [["Message:", result.message]] : []),
    ["Started:", result.startedAt],
    ["Finished:", result.finishedAt],
    ["Duration:", formatDuration(result.durationMs)],
  ].map(([k, v]) => `${pad(k, 21)}${v}`);
  const params = Object.entries(result.parameters).map(([k, v]) => `  ${pad(`${k}:`, 19)}${v}`);
  const byId = new Map(result.nodes.map((x) => [x.id, x]));
  const rows: string[][] = [];
  const walk = (x: NodeResult, prefix: string, childPrefix: string) => {
    rows.push([`${prefix}${SYMBOL[x.phase]} ${x.displayName}`, x.type === "StepGroup" ? "" : x.templateName, formatDuration(x.durationMs), x.message ?? ""]);
    x.children.forEach((id, i) => {
      const last = i === x.children.length - 1;
      walk(byId.get(id)!, `${childPrefix}${last ? "└─" : "├─"}`, `${childPrefix}${last ? "  " : "│ "}`);
    });
  };
  const roots = result.nodes.filter((x) => !result.nodes.some((p) => p.children.includes(x.id)));
  for (const [i, root] of roots.entries()) {
    if (i > 0) rows.push(["", "", "", ""]);
    walk(root, " ", " ");
  }
  const widths = [0, 1, 2].map((c) => Math.max(...[["STEP", "TEMPLATE", "DURATION"][c], ...rows.map((r) => r[c])].map((s) => [...s].length)) + 2);
  const line = (r: string[]) => (pad(r[0], widths[0]) + pad(r[1], widths[1]) + pad(r[2], widths[2]) + r[3]).trimEnd();
  return [
    ...header,
    ...(params.length ? ["Parameters:", ...params] : []),
    "",
    line(["STEP", "TEMPLATE", "DURATION", "MESSAGE"]),
    ...rows.map(line),
    "",
  ].join("\n");
}

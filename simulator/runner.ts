/**
 * An offline runner for the rendered `implementation-dag` WorkflowTemplate: it executes the object
 * with Argo's semantics for exactly the features the template uses, and throws a
 * {@link RunnerError} on any field it does not understand, so it can never silently misread one.
 * Test support, not product.
 *
 * What it does, and where in Argo's source (argoproj/argo-workflows) the behaviour comes from:
 * - Submission: every `{{…}}` reference must be in scope, as `workflow/validate/validate.go`
 *   (`resolveAllVariables`) demands; an unresolvable one is an {@link InvalidSpecError} before
 *   anything runs. Stricter than Argo in two places: `{{workflow.outputs.parameters.X}}` needs some
 *   template to declare `globalName: X` (Argo lets any name through once one global output exists),
 *   and an argument a template does not declare as an input is refused (Argo ignores it).
 * - `templateRef` resolves against the WorkflowTemplates the run is given (`workflowTemplates`);
 *   a missing one is Argo's "template reference <name>.<template> not found". The referenced
 *   template is validated and run in the *caller's* context (`validateTemplateHolder`): our
 *   globals, our volumes. So a template that reads `{{workflow.parameters.X}}` the caller lacks
 *   (the platform's coderun-template) is refused at submission.
 * - A `resource` step that creates an `argoproj.io/v1alpha1` Workflow with a `workflowTemplateRef`
 *   is played as Argo's controller would (`operator.go`, `setExecWorkflow`): the API server names it
 *   from `generateName`, `setOwnerReference` adds a controller reference to the parent; the child
 *   runs the referenced template with its arguments merged over the template's, its own
 *   `activeDeadlineSeconds` and `serviceAccountName` over the template's. A missing template makes
 *   the child Error, an invalid spec makes it Failed ("invalid spec: …"). The step is judged against
 *   the child's live object (`status.phase`). Other objects go to the `resource` option.
 * - The artifact repository (`spec.artifactRepositoryRef`) must resolve to a ConfigMap key the run
 *   is given, or the workflow is Error before anything runs (`operator.go`, `operate`;
 *   `workflow/artifactrepositories`).
 * - DAG tasks run when their `depends` / `dependencies` are fulfilled; a false `depends` makes the
 *   task Omitted ("omitted: depends condition not met"), a false `when` makes it Skipped
 *   (`workflow/controller/dag.go`). An Omitted or Skipped target inherits the worst phase of its
 *   dependencies (Failed or Error first), so a failure anywhere fails the DAG (`assessDAGPhase`);
 *   a task that ran has its own phase, so a branch that handles a failure (`a.Failed`) and
 *   succeeds is Succeeded.
 * - Substitution as `workflow/common/util.go` (`ProcessArgs`, `SubstituteParams`): input parameters
 *   take their argument or else their default, then the whole template is substituted, globals first
 *   and inputs second, both leaving unknown tags in place. So a global output that was never set —
 *   `{{workflow.outputs.parameters.ns}}` in the exit handler when set-params failed — reaches the pod
 *   as that literal text (`util/template/simple_template.go`: "just write the same string back").
 *   The runner mirrors that and lists such tags on the node (`unresolved`). Any other tag without a
 *   value at run time is a {@link RunnerError}: with the features used it cannot happen in Argo.
 * - A script's outputs are saved whatever its exit code (`postmain.go`), parameters in order,
 *   each its file with one trailing newline removed, stopping at the first missing file without a
 *   default (`workflow/executor/executor.go`, `SaveParameters`): later ones stay unset, and a node
 *   that exited 0 is an Error with the `open /mainctrfs…` message.
 * - Deadlines: a pod's `activeDeadlineSeconds` is the template's capped by the time the workflow has
 *   left (`workflowpod.go`), counted from the node's start (Kubernetes counts from the pod's start,
 *   input artifacts included; `podInitMs` stands for that start-up). A running pod is killed when
 *   either runs out — by the workflow's: "Step exceeded its deadline" (`exec_control.go`), by its
 *   own: "Pod was active on the node longer than the specified deadline". No leaf starts after the
 *   workflow's deadline. The exit handler is exempt from the workflow's deadline.
 * - The exit handler runs after the entrypoint with `{{workflow.status}}` (Succeeded / Failed / Error)
 *   and `{{workflow.failures}}`, which Argo sets to the failed nodes' JSON `strconv.Quote`d: a
 *   script receives a quoted JSON string. A failed exit handler fails a workflow that had succeeded
 *   (`workflow/controller/operator.go`).
 * - `resource` templates are recorded and judged by the object's status, against the template's
 *   own `failureCondition` (first: any requirement that holds fails it, named as Argo prints it)
 *   and `successCondition` (all requirements) (`workflow/executor/resource.go`, `matchConditions`).
 *   A status that matches neither stays unjudged in Argo until the pod's deadline; the answer the
 *   runner gets is final, so it fails the node with that deadline's message at once.
 * - `steps` templates run group by group (a failed step stops the later groups); a steps or dag
 *   template's outputs come from its children (`valueFrom.parameter`, artifact `from`).
 * - Pods: a script's scratch emptyDir is a fresh host directory (the harness in
 *   `simulator/argo-step.ts` re-roots `/tmp` there); other mounts (configMap and secret volumes
 *   from the options, emptyDirs) become directories inside it, and env values under a mount path follow.
 *   Artifacts pass between nodes as files. Identity is recorded (each pod's service account, the
 *   creator of each child Workflow), not enforced: RBAC has its own tests.
 * - Not modelled, and refused if present: retries, `continueOn`, `failFast: false`, hooks, loops
 *   (`withItems`/`withParam`), expression tags `{{=…}}`, container templates — anything not listed in
 *   {@link UNDERSTOOD}.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { runScriptTemplate } from "./argo-step";
import { SCRATCH_DIR } from "../components/pod-security";
import {
  dependsTasks, evaluateDepends, evaluateWhen, failedRequirement, fulfilled, jsonPathValue, matchesCondition, replaceInJson, tagsIn,
  type NodePhase,
} from "./argo-semantics";

/** Something the runner cannot execute faithfully: an unknown field, a bad reference, a bad setup. */
export class RunnerError extends Error {
  override name = "RunnerError";
}

/**
 * Argo's validation refused the workflow (`workflow/validate/validate.go`): `argo submit` returns
 * this message and creates nothing. A Workflow created as an object (a child Workflow) is not
 * refused; the controller marks it Failed with `invalid spec: <message>` instead.
 */
export class InvalidSpecError extends RunnerError {
  override name = "InvalidSpecError";
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
    serviceAccountName: "{{workflow.serviceAccountName}}; recorded on every pod node (RBAC has its own tests)",
    activeDeadlineSeconds: "executed: no leaf starts after the deadline, and a running pod is killed at it (exit handler exempt)",
    synchronization: "executed: mutexes, held in this process for the whole run",
    volumes: "executed: emptyDir, configMap, secret",
    podGC: "inert: deletes finished pods",
    ttlStrategy: "inert: deletes finished workflows",
    artifactRepositoryRef: "executed: must resolve to a key of a ConfigMap the run is given, else the workflow is Error before anything runs",
    securityContext: "inert: pod security has its own tests",
    podMetadata: "inert: pod labels",
  },
  synchronization: { mutexes: "executed" },
  artifactRepositoryRef: { configMap: "executed", key: "executed" },
  mutex: { name: "executed" },
  arguments: { parameters: "executed" },
  workflowParameter: { name: "executed", value: "executed", description: "inert", enum: "executed: the value must be one of it (validate.go, validateArgumentsValues)" },
  template: {
    name: "executed",
    synchronization: "executed: mutexes (substituted with the template's inputs), held while its node runs (synchronization/mutex.go; template-level locks)",
    inputs: "executed",
    outputs: "executed",
    activeDeadlineSeconds: "executed: the pod is killed that long after the node started, and fails",
    script: "executed",
    dag: "executed",
    steps: "executed",
    resource: "executed",
    volumes: "executed: added to the workflow's volumes for this pod",
    automountServiceAccountToken: "inert: identity is not modelled offline",
    executor: "inert: identity is not modelled offline",
    serviceAccountName: "recorded on the pod node and on the Workflows its resource step creates",
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
  inputParameter: { name: "executed", value: "executed: the default", description: "inert", enum: "inert: Argo checks enums of the workflow's arguments at submit, not of template inputs at run time" },
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
    name: "executed", template: "executed", templateRef: "executed: a template of a given WorkflowTemplate, in this workflow's context", arguments: "executed",
    depends: "executed", dependencies: "executed", when: "executed",
  },
  step: { name: "executed", template: "executed", templateRef: "executed: a template of a given WorkflowTemplate, in this workflow's context", arguments: "executed", when: "executed" },
  templateRef: { name: "executed", template: "executed", clusterScope: "executed" },
  taskArguments: { parameters: "executed", artifacts: "executed" },
  argumentParameter: { name: "executed", value: "executed" },
  argumentArtifact: { name: "executed", from: "executed" },
  resource: {
    action: "executed", manifest: "executed", successCondition: "executed", failureCondition: "executed",
    setOwnerReference: "executed: the created object carries a controller reference to this workflow",
  },
  // A Workflow created by a `resource` step: the runner plays Argo's controller for it.
  childWorkflow: { apiVersion: "checked", kind: "checked", metadata: "executed", spec: "executed" },
  childMetadata: {
    name: "executed", generateName: "executed: five random characters appended, as the API server does",
    namespace: "executed", labels: "recorded", annotations: "recorded",
    ownerReferences: "recorded (setOwnerReference adds this workflow's)",
  },
  childSpec: {
    workflowTemplateRef: "executed: the WorkflowTemplate runs as this workflow",
    arguments: "executed: merged over the template's",
    activeDeadlineSeconds: "executed: overrides the template's",
    serviceAccountName: "recorded: overrides the template's",
  },
  workflowTemplateRef: { name: "executed", clusterScope: "executed" },
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
function checkWorkflowTemplate(wt: unknown, kind: "WorkflowTemplate" | "ClusterWorkflowTemplate" = "WorkflowTemplate"): void {
  const root = checkFields(wt, "workflowTemplate", kind);
  if (root.apiVersion !== "argoproj.io/v1alpha1" || root.kind !== kind) {
    throw new RunnerError(`not an argoproj.io/v1alpha1 ${kind}`);
  }
  checkFields(root.metadata, "metadata", "metadata");
  const spec = checkFields((root as Obj).spec, "spec", "spec");
  if (spec.artifactRepositoryRef !== undefined) checkFields(spec.artifactRepositoryRef, "artifactRepositoryRef", "spec.artifactRepositoryRef");
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

/** Checks a Workflow a `resource` step creates: only what the runner can play the controller for. */
function checkChildWorkflow(obj: unknown, where: string): void {
  const root = checkFields(obj, "childWorkflow", where);
  checkFields(root.metadata, "childMetadata", `${where}.metadata`);
  const spec = checkFields(root.spec, "childSpec", `${where}.spec`);
  if (spec.workflowTemplateRef === undefined) throw new RunnerError(`${where}.spec: the runner plays only Workflows with a workflowTemplateRef`);
  checkFields(spec.workflowTemplateRef, "workflowTemplateRef", `${where}.spec.workflowTemplateRef`);
  if (spec.arguments !== undefined) {
    const args = checkFields(spec.arguments, "arguments", `${where}.spec.arguments`);
    list(args.parameters, `${where}.spec.arguments.parameters`).forEach((p, i) => checkFields(p, "workflowParameter", `${where}.spec.arguments.parameters[${i}]`));
  }
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
  if (tmpl.synchronization !== undefined) {
    const sync = checkFields(tmpl.synchronization, "synchronization", `${where}.synchronization`);
    list(sync.mutexes, `${where}.synchronization.mutexes`).forEach((m, i) => checkFields(m, "mutex", `${where}.synchronization.mutexes[${i}]`));
  }
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

/**
 * A Workflow a `resource` step created, which the runner then ran as Argo's controller would: the
 * object as the API server stored it, and its run.
 */
export interface ChildWorkflow {
  /** The node of the resource step that created it. */
  createdBy: string;
  /** The service account of the pod that created it (the resource step's). */
  creatorServiceAccountName: string;
  /** The object as created: name (from generateName), namespace, uid, owner references. */
  object: {
    apiVersion: string; kind: string;
    metadata: { name: string; namespace: string; uid: string; generateName?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: OwnerReference[] };
    spec: { workflowTemplateRef: { name: string; clusterScope?: boolean }; arguments?: { parameters?: Array<{ name: string; value?: string }> }; activeDeadlineSeconds?: number; serviceAccountName?: string };
  };
  /** Its run; absent only while it still runs. */
  result?: WorkflowResult;
}

/** An owner reference as `metav1.NewControllerRef` writes it. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
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
  /** The reference, for a node of a templateRef task or step. */
  templateRef?: { name: string; template: string };
  /** The pod's service account (the template's, else the workflow's, else `default`), for pods. */
  serviceAccountName?: string;
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
  uid: string;
  serviceAccountName?: string;
  phase: "Succeeded" | "Failed" | "Error";
  message?: string;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  parameters: Record<string, string>;
  /** Global outputs (`globalName`). */
  outputs: Record<string, string>;
  /** Mutex names held during the run (the workflow's, then its templates' in the order taken), after substitution. */
  mutexes: string[];
  nodes: NodeResult[];
  /** Every `resource` action, Workflows included (after substitution). */
  resources: ResourceCall[];
  /** Workflows this run's resource steps created, in creation order, each with its run. */
  childWorkflows: ChildWorkflow[];
}

/** Options of {@link runWorkflow}. */
export interface RunWorkflowOptions {
  /** Submitted parameters (`argo submit -p`). */
  parameters: Record<string, string>;
  /** The workflow's name. Defaults to `<template name>-` plus five random characters. */
  name?: string;
  /**
   * The WorkflowTemplates (and ClusterWorkflowTemplates) in the cluster: what `templateRef` tasks and
   * the `workflowTemplateRef` of created Workflows resolve against. Defaults to none.
   */
  workflowTemplates?: unknown[];
  /**
   * Answers a `resource` template with the object as the cluster shows it (status included); not
   * asked for Workflows with a `workflowTemplateRef`, which the runner runs itself.
   */
  resource?: (call: ResourceCall) => unknown;
  /** Secrets in the workflow's namespace: name to key to value (env secretKeyRef, secret volumes). */
  secrets?: Record<string, Record<string, string>>;
  /** ConfigMaps in the workflow's namespace: name to key to value. */
  configMaps?: Record<string, Record<string, string>>;
  /** Directories put first on PATH of every script (stand-ins). */
  pathPrepend?: string[];
  /** Extra environment of every script (stand-ins' own settings). */
  standInEnv?: Record<string, string>;
  /**
   * Milliseconds each script pod spends before its main container runs (image pull, the init
   * container loading input artifacts). They count against the pod's deadline, as Kubernetes counts
   * `activeDeadlineSeconds` from the pod's start. Defaults to 0.
   */
  podInitMs?: number;
  /** Remove the pods' directories afterwards. Defaults to true. */
  removePods?: boolean;
  /** Told of every child Workflow when it is created (the world puts it in its cluster). */
  onChildWorkflow?: (child: ChildWorkflow) => void;
}

// ---------------------------------------------------------------------------------------------
// Template and scope helpers.
// ---------------------------------------------------------------------------------------------

interface Param { name: string; value?: string; default?: string; valueFrom?: Obj; globalName?: string; enum?: string[] }
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
  serviceAccountName?: string;
  synchronization?: { mutexes?: Array<{ name: string }> };
  script?: { command?: string[]; source?: string; env?: Array<{ name: string; value?: string; valueFrom?: Obj }>; volumeMounts?: Array<{ name: string; mountPath: string }> } & Obj;
  dag?: { tasks: Task[] };
  steps?: Task[][];
  resource?: { action: string; manifest?: string; successCondition?: string; failureCondition?: string; setOwnerReference?: boolean };
}
interface Spec {
  entrypoint: string;
  onExit?: string;
  serviceAccountName?: string;
  activeDeadlineSeconds?: number;
  arguments?: { parameters?: Param[] };
  synchronization?: { mutexes?: Array<{ name: string }> };
  volumes?: Volume[];
  artifactRepositoryRef?: { configMap?: string; key?: string };
  templates: Tmpl[];
}
/** Where template names resolve: the workflow's own templates, or a referenced WorkflowTemplate's. */
interface TemplateScope {
  /** The WorkflowTemplate's name; undefined for the workflow's own templates. */
  ref?: string;
  templates: Map<string, Tmpl>;
}
/** How a node runs: where its template names resolve, and whether it is part of the exit handler. */
interface RunContext {
  scope: TemplateScope;
  exit: boolean;
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

/**
 * Takes every mutex in `names` (waiting while another run holds one); returns what releases them.
 * Mutexes are per process, as the runs of one test share one cluster.
 */
async function acquireMutexes(names: string[]): Promise<() => void> {
  const releases: Array<() => void> = [];
  for (const m of names) {
    while (heldMutexes.has(m)) await heldMutexes.get(m);
    let release!: () => void;
    heldMutexes.set(m, new Promise<void>((resolve) => (release = () => { heldMutexes.delete(m); resolve(); })));
    releases.push(release);
  }
  return () => { for (const r of releases) r(); };
}

/** Held mutexes of this process: name to the promise that resolves when released. */
const heldMutexes = new Map<string, Promise<void>>();

// ---------------------------------------------------------------------------------------------
// The run.
// ---------------------------------------------------------------------------------------------

class Execution {
  readonly nodes: NodeResult[] = [];
  readonly resources: ResourceCall[] = [];
  readonly children: ChildWorkflow[] = [];
  /** Mutexes taken by templates of the run, in the order taken (after substitution). */
  readonly templateMutexes: string[] = [];
  /** Runs of child Workflows not awaited by their resource step (it gave up at its deadline). */
  readonly pending: Array<Promise<unknown>> = [];
  readonly globals: Record<string, string> = {};
  readonly globalOutputs: Record<string, string> = {};
  readonly pods: string[] = [];
  /** The workflow's own templates. */
  readonly own: TemplateScope;
  /** When the workflow's `activeDeadlineSeconds` runs out (epoch ms), set when it starts running. */
  deadlineAt?: number;
  private readonly refScopes = new Map<string, TemplateScope>();
  private readonly declaredGlobals: Set<string>;

  constructor(readonly spec: Spec, readonly name: string, readonly namespace: string, readonly uid: string, readonly options: RunWorkflowOptions) {
    this.own = { templates: new Map(spec.templates.map((t) => [t.name, t])) };
    if (this.own.templates.size !== spec.templates.length) throw new RunnerError("spec.templates: duplicate template names");
    this.declaredGlobals = new Set(spec.templates.flatMap((t) => (t.outputs?.parameters ?? []).flatMap((p) => (p.globalName ? [p.globalName] : []))));
  }

  /** A template by name where names resolve (`templateresolution`: the workflow's, or the referenced WorkflowTemplate's). */
  templateIn(scope: TemplateScope, name: string, where: string): Tmpl {
    const t = scope.templates.get(name);
    if (!t) {
      throw new InvalidSpecError(scope.ref === undefined ? `${where}: template name '${name}' undefined` : `${where} template reference ${scope.ref}.${name} not found`);
    }
    return t;
  }

  /**
   * Resolves a `templateRef` against the WorkflowTemplates the run was given
   * (`workflow/templateresolution/context.go`, `GetTemplateFromRef`; `validate.go`,
   * `validateTemplateHolder`): a missing WorkflowTemplate or template is a validation error.
   */
  resolveRef(ref: { name: string; template: string; clusterScope?: boolean }, where: string): { scope: TemplateScope; tmpl: Tmpl } {
    const key = `${ref.clusterScope ? "cluster/" : ""}${ref.name}`;
    let scope = this.refScopes.get(key);
    if (!scope) {
      const wt = givenTemplate(this.options, ref.name, !!ref.clusterScope, this.namespace);
      // validateTemplateHolder reports a NotFound from the resolution (no such WorkflowTemplate, or
      // no such template in it) as "template reference <name>.<template> not found".
      if (!wt) throw new InvalidSpecError(`${where} template reference ${ref.name}.${ref.template} not found`);
      scope = { ref: ref.name, templates: new Map(wt.spec.templates.map((t) => [t.name, t])) };
      this.refScopes.set(key, scope);
    }
    return { scope, tmpl: this.templateIn(scope, ref.template, where) };
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
      if (!scope.has(tag)) throw new InvalidSpecError(`${where}: failed to resolve {{${tag}}}`);
    }
  }

  /** Validates the template a task or step calls, its errors prefixed with the caller as Argo does. */
  private validateCallee(task: Task, exit: boolean, scope: TemplateScope, seen: Set<string>, where: string): Tmpl {
    try {
      if (task.templateRef) {
        const r = this.resolveRef(task.templateRef, where);
        this.validate(r.tmpl.name, exit, r.scope, seen);
        return r.tmpl;
      }
      const t = this.templateIn(scope, task.template!, where);
      this.validate(t.name, exit, scope, seen);
      return t;
    } catch (e) {
      if (e instanceof InvalidSpecError && !e.message.startsWith(where)) throw new InvalidSpecError(`${where} ${e.message}`);
      throw e;
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

  /**
   * Validates a template reachable from the entrypoint or the exit handler, as `argo submit` does,
   * following `templateRef`s into the WorkflowTemplates given: a referenced template is checked
   * against *this* workflow's globals (`validateTemplateHolder` with the caller's `globalParams`),
   * so one that reads a `{{workflow.parameters.X}}` this workflow lacks is refused.
   */
  validate(name: string, exit: boolean, scope: TemplateScope, seen = new Set<string>()): void {
    const key = `${scope.ref ?? ""}/${name}/${exit}`;
    if (seen.has(key)) return;
    seen.add(key);
    const t = this.templateIn(scope, name, "validate");
    const where = `templates.${t.name}`;
    if ((t.dag || t.steps) && t.activeDeadlineSeconds !== undefined) {
      throw new InvalidSpecError(`${where}.activeDeadlineSeconds is only valid for leaf templates`); // validate.go, validateNonLeaf
    }
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
      for (const task of tasks) {
        if (!task.template === !task.templateRef) throw new InvalidSpecError(`${where}.dag.tasks.${task.name}: exactly one of template, templateRef`);
      }
      for (const task of tasks) this.addTaskScope(all, "tasks", task.name, task, scope, where);
      this.checkTags(t.outputs ?? {}, all, `${where}.outputs`);
      for (const task of tasks) {
        const taskScope = new Set(own);
        for (const a of ancestors(tasks, task.name)) this.addTaskScope(taskScope, "tasks", a, tasks.find((x) => x.name === a)!, scope, where);
        this.checkTags(task, taskScope, `${where}.dag.tasks.${task.name}`);
        const callee = this.validateCallee(task, exit, scope, seen, `${where}.dag.tasks.${task.name}`);
        this.checkArguments(task, callee, `${where}.dag.tasks.${task.name}`);
      }
    }
    if (t.steps) {
      const stepScope = new Set(own);
      for (const [g, group] of t.steps.entries()) {
        for (const step of group) {
          if (!step.template === !step.templateRef) throw new InvalidSpecError(`${where}.steps[${g}].${step.name}: exactly one of template, templateRef`);
          this.checkTags(step, stepScope, `${where}.steps[${g}].${step.name}`);
          const callee = this.validateCallee(step, exit, scope, seen, `${where}.steps[${g}].${step.name}`);
          this.checkArguments(step, callee, `${where}.steps[${g}].${step.name}`);
        }
        for (const step of group) this.addTaskScope(stepScope, "steps", step.name, step, scope, where);
      }
      this.checkTags(t.outputs ?? {}, stepScope, `${where}.outputs`);
    }
  }

  private addTaskScope(scope: Set<string>, prefix: "tasks" | "steps", name: string, task: Task, templates: TemplateScope, where: string): void {
    scope.add(`${prefix}.${name}.status`);
    const at = `${where}.${prefix === "tasks" ? "dag.tasks" : "steps"}.${name}`;
    const t = task.templateRef ? this.resolveRef(task.templateRef, at).tmpl : this.templateIn(templates, task.template!, at);
    for (const p of t.outputs?.parameters ?? []) scope.add(`${prefix}.${name}.outputs.parameters.${p.name}`);
    for (const a of t.outputs?.artifacts ?? []) scope.add(`${prefix}.${name}.outputs.artifacts.${a.name}`);
  }

  private checkArguments(task: Task, t: Tmpl, where: string): void {
    const inputs = new Set((t.inputs?.parameters ?? []).map((p) => p.name));
    for (const p of task.arguments?.parameters ?? []) {
      if (!inputs.has(p.name)) throw new InvalidSpecError(`${where}: argument ${p.name} is not an input of template ${t.name}`);
    }
    const artifacts = new Set((t.inputs?.artifacts ?? []).map((a) => a.name));
    for (const a of task.arguments?.artifacts ?? []) {
      if (!artifacts.has(a.name)) throw new InvalidSpecError(`${where}: artifact ${a.name} is not an input of template ${t.name}`);
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
    globals: Record<string, string>, artifactsFrom: Record<string, string>, ctx: RunContext,
  ): Promise<NodeResult> {
    // A templateRef runs the referenced template in this workflow's context: our globals, our
    // volumes; only its own template names resolve in its WorkflowTemplate.
    let scope = ctx.scope;
    let t: Tmpl;
    if (holder.templateRef) ({ scope, tmpl: t } = this.resolveRef(holder.templateRef, nodeName));
    else t = this.templateIn(scope, holder.template!, nodeName);
    const type: NodeResult["type"] = t.dag ? "DAG" : t.steps ? "Steps" : "Pod";
    const ref = holder.templateRef ? { name: holder.templateRef.name, template: holder.templateRef.template } : undefined;
    const n = this.node(nodeName, displayName, type, ref ? `${ref.name}/${ref.template}` : t.name, parent);
    if (ref) n.templateRef = ref;
    const t0 = this.start(n);
    const leaf = type === "Pod";
    if (leaf) n.serviceAccountName = t.serviceAccountName ?? this.spec.serviceAccountName ?? "default";
    // A pod not yet created when the workflow's time ran out is never created (workflowpod.go:
    // `wfActiveDeadlineSeconds <= 0`); the node fails (`failNodesWithoutCreatedPodsAfterDeadline…`),
    // except in the exit handler (`IsPartOfExitHandler`).
    if (leaf && !ctx.exit && this.deadlineAt !== undefined && Date.now() >= this.deadlineAt) {
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

    const inner: RunContext = { scope, exit: ctx.exit };
    // Template-level locks: taken when the node starts (after its inputs are substituted into the
    // names), held until it ends; a node waiting for one is still running (its time counts).
    const locks = (tmpl.synchronization?.mutexes ?? []).map((m) => m.name);
    for (const m of locks) if (tagsIn(m).length > 0) throw new RunnerError(`templates.${t.name}: mutex ${m}: unresolved reference`);
    const release = await acquireMutexes(locks);
    this.templateMutexes.push(...locks);
    try {
      if (tmpl.script) return await this.runScript(n, t0, tmpl, inputs, inner);
      if (tmpl.resource) return await this.runResource(n, t0, tmpl, inner);
      if (tmpl.dag) return await this.runDag(n, t0, tmpl, globals, inputs, inner);
      return await this.runSteps(n, t0, tmpl, globals, inputs, inner);
    } finally {
      release();
    }
  }

  /**
   * When a pod whose node started at `t0` is killed, and by what. The pod's `activeDeadlineSeconds`
   * is the template's, capped by the time the workflow has left (`workflowpod.go`); the exit
   * handler ignores the workflow's. Kubernetes counts it from the pod's start, so input artifacts
   * and volumes count too. When the workflow's time is what runs out, the controller fails the node
   * first (`exec_control.go`, `applyExecutionControl`: "Step exceeded its deadline").
   */
  private podDeadline(t0: number, tmpl: Tmpl, ctx: RunContext): { at?: number; message: string } {
    const own = tmpl.activeDeadlineSeconds !== undefined ? t0 + Number(tmpl.activeDeadlineSeconds) * 1000 : undefined;
    const workflow = ctx.exit ? undefined : this.deadlineAt;
    if (workflow !== undefined && (own === undefined || workflow < own)) return { at: workflow, message: "Step exceeded its deadline" };
    return { at: own, message: "Pod was active on the node longer than the specified deadline" };
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

  private async runScript(n: NodeResult, t0: number, tmpl: Tmpl, inputs: Record<string, string>, ctx: RunContext): Promise<NodeResult> {
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
    const deadline = this.podDeadline(t0, tmpl, ctx);
    if (this.options.podInitMs) await new Promise((resolve) => setTimeout(resolve, this.options.podInitMs));
    const r = await runScriptTemplate(runnable, {
      parameters: inputs,
      artifacts: n.inputs.artifacts,
      pathPrepend: this.options.pathPrepend,
      standInEnv: this.options.standInEnv,
      envSubstituted: true,
      root,
      ...(deadline.at !== undefined ? { deadlineAt: deadline.at } : {}),
    });
    n.stdout = r.stdout;
    n.stderr = r.stderr;
    n.env = r.env;
    n.outputs.exitCode = r.code;
    // A pod killed at its deadline takes its wait container with it: nothing is saved.
    if (deadline.at !== undefined && r.code === 137 && Date.now() >= deadline.at) return this.finish(n, "Failed", t0, deadline.message);
    // The wait container saves outputs whatever the exit code (`postmain.go`, `PostMain`):
    // parameters in order, stopping at the first missing file without a default
    // (`executor.go`, `SaveParameters`), then artifacts (`SaveArtifacts`).
    let saveError: string | undefined;
    for (const p of tmpl.outputs?.parameters ?? []) {
      const file = p.valueFrom?.path;
      if (file === undefined) continue;
      let value = r.outputs[p.name];
      if (value === undefined) {
        if (p.valueFrom?.default === undefined) { saveError = `open ${mainContainerPath(tmpl, String(file))}: no such file or directory`; break; }
        value = String(p.valueFrom.default);
      }
      n.outputs.parameters[p.name] = value.endsWith("\n") ? value.slice(0, -1) : value; // "Trims off a single newline"
    }
    for (const a of tmpl.outputs?.artifacts ?? []) {
      if (a.name in r.artifacts) n.outputs.artifacts[a.name] = r.artifacts[a.name];
      else if (!a.optional && saveError === undefined) saveError = `open ${mainContainerPath(tmpl, String(a.path))}: no such file or directory`;
    }
    this.publishGlobals(tmpl, n);
    if (r.code !== 0) return this.finish(n, "Failed", t0, `Error (exit code ${r.code})`);
    if (saveError !== undefined) return this.finish(n, "Error", t0, saveError);
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

  /**
   * A `resource` step (`workflow/executor/resource.go`): the manifest (with a controller reference
   * to this workflow when `setOwnerReference`, as `operator.go` adds it) is acted on, then the live
   * object is judged: the failure condition first, then the success condition (`matchConditions`).
   * A created `argoproj.io/v1alpha1` Workflow with a `workflowTemplateRef` is run by the runner as
   * Argo's controller would; any other object goes to the `resource` option. The step is a pod, so
   * its wait is bounded like any pod's ({@link Execution.podDeadline}); Argo polls an object that
   * matches neither condition until then, and the runner's answers are final, so it fails the node
   * with that deadline's message at once.
   */
  private async runResource(n: NodeResult, t0: number, tmpl: Tmpl, ctx: RunContext): Promise<NodeResult> {
    const res = tmpl.resource!;
    if (!["get", "create", "apply", "delete", "replace", "patch"].includes(res.action)) {
      throw new RunnerError(`templates.${tmpl.name}.resource.action ${res.action} is not an Argo action`);
    }
    const manifest = res.manifest ?? "";
    const object: unknown = manifest ? parseYaml(manifest) : undefined;
    if (res.setOwnerReference && isObj(object)) {
      const metadata = isObj(object.metadata) ? object.metadata : {};
      const refs = Array.isArray(metadata.ownerReferences) ? metadata.ownerReferences : [];
      object.metadata = { ...metadata, ownerReferences: [...refs, this.controllerRef()] };
    }
    const call: ResourceCall = { node: n.name, action: res.action, manifest, object };
    this.resources.push(call);
    const deadline = this.podDeadline(t0, tmpl, ctx);
    let live: Promise<unknown>;
    if (isObj(object) && object.apiVersion === "argoproj.io/v1alpha1" && object.kind === "Workflow") {
      if (res.action !== "create") throw new RunnerError(`${n.name}: the runner plays the controller only for a created Workflow, not for action ${res.action}`);
      live = this.createChildWorkflow(n, object);
    } else {
      if (!this.options.resource) throw new RunnerError(`${n.name}: a resource template needs the option resource (the scripted cluster)`);
      const answer = this.options.resource;
      live = Promise.resolve().then(() => answer(call));
    }
    const outcome = await untilDeadline(live, deadline.at);
    if (outcome.timedOut) return this.finish(n, "Failed", t0, deadline.message);
    const obj = outcome.value;
    if (res.failureCondition) {
      const failed = failedRequirement(obj, res.failureCondition);
      if (failed !== undefined) return this.finish(n, "Failed", t0, `failure condition '${failed}' evaluated true`);
    }
    if (res.successCondition && !matchesCondition(obj, res.successCondition)) {
      if (deadline.at === undefined) throw new RunnerError(`${n.name}: neither condition matches and no deadline bounds the wait: Argo would wait for ever`);
      return this.finish(n, "Failed", t0, deadline.message);
    }
    // Outputs are saved once the wait is over (`SaveResourceParameters`).
    for (const p of tmpl.outputs?.parameters ?? []) {
      const jp = p.valueFrom?.jsonPath;
      if (typeof jp !== "string") throw new RunnerError(`templates.${tmpl.name}.outputs.parameters.${p.name}: a resource template reads jsonPath`);
      const m = /^\{\.(.+)\}$/.exec(jp);
      if (!m) throw new RunnerError(`templates.${tmpl.name}.outputs.parameters.${p.name}: jsonPath ${jp} is not a simple {.a.b} path`);
      const { exists, value } = jsonPathValue(obj, m[1]);
      if (!exists) return this.finish(n, "Error", t0, `jsonPath ${jp} has no value`);
      n.outputs.parameters[p.name] = value;
    }
    this.publishGlobals(tmpl, n);
    return this.finish(n, "Succeeded", t0);
  }

  /** The owner reference `metav1.NewControllerRef(wf, Workflow)` gives an object this workflow creates. */
  private controllerRef(): OwnerReference {
    return { apiVersion: "argoproj.io/v1alpha1", kind: "Workflow", name: this.name, uid: this.uid, controller: true, blockOwnerDeletion: true };
  }

  /**
   * `kubectl create` of a Workflow, then Argo's controller running it: the API server names it from
   * `generateName` and gives it a uid; the controller runs the referenced WorkflowTemplate with the
   * Workflow's arguments ({@link runChildWorkflow}). Resolves to the live object, `status.phase`
   * and `status.message` included, once the child is fulfilled.
   */
  private async createChildWorkflow(n: NodeResult, object: Obj): Promise<unknown> {
    checkChildWorkflow(object, `${n.name}: the created Workflow`);
    const meta = object.metadata as { name?: string; generateName?: string; namespace?: string } & Obj;
    const name = meta.name ?? (meta.generateName ? `${meta.generateName}${randomSuffix()}` : undefined);
    if (!name) throw new RunnerError(`${n.name}: the created Workflow has neither name nor generateName`);
    const created = { ...object, metadata: { ...meta, name, namespace: meta.namespace ?? this.namespace, uid: uidOf(name) } } as unknown as ChildWorkflow["object"];
    const record: ChildWorkflow = { createdBy: n.name, creatorServiceAccountName: n.serviceAccountName ?? "default", object: created };
    this.children.push(record);
    this.options.onChildWorkflow?.(record);
    const run = runChildWorkflow(created, this.options).then((r) => (record.result = r));
    this.pending.push(run);
    const r = await run;
    return { ...created, status: { phase: r.phase, ...(r.message ? { message: r.message } : {}), startedAt: r.startedAt, finishedAt: r.finishedAt } };
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

  private async runDag(n: NodeResult, t0: number, tmpl: Tmpl, globals: Record<string, string>, inputs: Record<string, string>, ctx: RunContext): Promise<NodeResult> {
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
          // A skipped node did not complete either: it too carries its dependencies' branch phase
          // (assessDAGPhase overwrites the branch phase only with a Completed node's own).
          effective.set(task.name, deps.map((d) => effective.get(d)!).find((p) => p === "Failed" || p === "Error") ?? "Skipped");
          return;
        }
        const child = await this.execute(resolved, nodeName, task.name, n, { ...globals, ...this.globals }, artifacts, ctx);
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

  private async runSteps(n: NodeResult, t0: number, tmpl: Tmpl, globals: Record<string, string>, inputs: Record<string, string>, ctx: RunContext): Promise<NodeResult> {
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
        return this.execute(resolved, nodeName, step.name, groupNode, { ...globals, ...this.globals }, artifacts, ctx);
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

/** Go's `json.Marshal` text of a value: like JSON.stringify, with `<`, `>`, `&`, U+2028, U+2029 escaped. */
function goJson(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** FNV-1a, 32 bits (Go's `hash/fnv` `New32a`). */
function fnv32a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A node's pod name, v2 (`workflow/util/pod_name.go`, `GeneratePodName`). */
export function podName(workflowName: string, nodeName: string, templateName: string): string {
  if (workflowName === nodeName) return workflowName;
  let prefix = templateName ? `${workflowName}-${templateName}` : workflowName;
  if (prefix.length > 242) prefix = prefix.slice(0, 242);
  return `${prefix}-${fnv32a(nodeName)}`;
}

/**
 * The value of `{{workflow.failures}}` (`operator.go`, `operate`): the failed and errored nodes as
 * JSON, then `strconv.Quote`d, "so that the escaped quotes are not removed during parameter
 * substitution". A script therefore receives a quoted JSON string (`"[{\"displayName\":…}]"`),
 * which it must unquote before parsing (`jq -r .` or `fromjson`).
 */
function failuresValue(nodes: NodeResult[], workflowName: string): string {
  const failures = nodes.filter((x) => x.phase === "Failed" || x.phase === "Error").map((x) => {
    const template = x.templateRef?.template ?? x.templateName; // wfutil.GetTemplateFromNode
    return {
      displayName: x.displayName, message: x.message ?? "", templateName: template, phase: x.phase,
      podName: podName(workflowName, x.name, template), finishedAt: x.finishedAt ?? null,
    };
  });
  return JSON.stringify(goJson(failures));
}

/** A WorkflowTemplate (or ClusterWorkflowTemplate) the run was given, checked field by field. */
function givenTemplate(options: RunWorkflowOptions, name: string, clusterScope: boolean, namespace: string): { metadata: { name: string; namespace?: string }; spec: Spec } | undefined {
  const kind = clusterScope ? "ClusterWorkflowTemplate" : "WorkflowTemplate";
  const found = (options.workflowTemplates ?? []).find((o) => isObj(o) && o.kind === kind && isObj(o.metadata) && o.metadata.name === name &&
    (clusterScope || (o.metadata.namespace ?? namespace) === namespace));
  if (found === undefined) return undefined;
  checkWorkflowTemplate(found, kind);
  return found as { metadata: { name: string; namespace?: string }; spec: Spec };
}

/** A uid the API server would give: fixed per name, so runs are reproducible. */
const uidOf = (name: string) => `00000000-0000-4000-8000-${Buffer.from(name).toString("hex").slice(-12).padStart(12, "0")}`;

/** The container's view of a path: a file under a volume mount is read via `/mainctrfs` by the wait container. */
function mainContainerPath(tmpl: Tmpl, file: string): string {
  const mounted = (tmpl.script?.volumeMounts ?? []).some((m) => file === m.mountPath || file.startsWith(`${m.mountPath}/`));
  return mounted ? `/mainctrfs${file}` : file;
}

/** Waits for `promise`, or until `at` (epoch ms) when given. */
async function untilDeadline<T>(promise: Promise<T>, at: number | undefined): Promise<{ timedOut: true } | { timedOut: false; value: T }> {
  if (at === undefined) return { timedOut: false, value: await promise };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ timedOut: true }>((resolve) => (timer = setTimeout(() => resolve({ timedOut: true }), Math.max(0, at - Date.now()))));
  try {
    return await Promise.race([promise.then((value) => ({ timedOut: false as const, value })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The artifact repository the controller resolves before anything runs (`operator.go`, `operate`;
 * `workflow/artifactrepositories/artifactrepositories.go`, `Resolve`): a ref's ConfigMap and key,
 * looked up in the workflow's namespace (the controller's own namespace, Argo's second place to
 * look, is not modelled). Returns the workflow's Error message, or undefined when it resolves.
 */
function artifactRepositoryError(spec: Spec, namespace: string, options: RunWorkflowOptions): string | undefined {
  const ref = spec.artifactRepositoryRef;
  if (ref === undefined) return undefined; // the default repository; not modelled offline
  const configMap = ref.configMap || "artifact-repositories";
  const key = ref.key ?? ""; // an empty key means the ConfigMap's default annotation: the runner has no annotations
  const value = options.configMaps?.[configMap]?.[key];
  if (value === undefined) {
    return `failed to resolve artifact repository: failed to find any artifact repository for artifact repository ref "${ref.configMap ?? ""}#${ref.key ?? ""}"`;
  }
  try {
    parseYaml(value);
  } catch (e) {
    const status = `${namespace}/${configMap}#${key}`;
    return `failed to resolve artifact repository: error getting config map for artifact repository ref "${status}": failed to unmarshall config map key "${key}" for artifact repository ref "${status}": ${(e as Error).message}`;
  }
  return undefined;
}

/** Argo's validation of the arguments: every parameter needs a value (`validateArguments`). */
function resolveParameters(declared: Param[], given: Record<string, string>): Record<string, string> {
  const parameters: Record<string, string> = {};
  for (const p of declared) {
    const value = given[p.name] ?? p.value;
    if (value === undefined) throw new InvalidSpecError(`spec.arguments.${p.name}.value is required`);
    if (p.enum !== undefined && p.enum.length === 0) throw new InvalidSpecError(`spec.arguments.${p.name}.enum should contain at least one value`);
    if (p.enum !== undefined && !p.enum.includes(String(value))) {
      throw new InvalidSpecError(`spec.arguments.${p.name}.value should be present in spec.arguments.${p.name}.enum list`);
    }
    parameters[p.name] = String(value);
  }
  return parameters;
}

/** A run that ended before any node ran (validation, artifact repository). */
function endedBeforeStart(name: string, namespace: string, spec: Spec, phase: "Failed" | "Error", message: string): WorkflowResult {
  const now = iso(Date.now());
  return {
    name, namespace, uid: uidOf(name), serviceAccountName: spec.serviceAccountName, phase, message, startedAt: now, finishedAt: now, durationMs: 0,
    parameters: {}, outputs: {}, mutexes: [], nodes: [], resources: [], childWorkflows: [],
  };
}

/**
 * Runs a workflow spec as Argo's controller does (`operator.go`, `operate`): validation (with the
 * WorkflowTemplates given), the artifact repository, the mutexes, the entrypoint, the exit
 * handler. `submitted`: the workflow came through `argo submit`, which refuses an invalid spec with
 * an {@link InvalidSpecError}; a Workflow created as an object is instead marked Failed with
 * `invalid spec: …` by the controller.
 */
async function runSpec(spec: Spec, name: string, namespace: string, given: Record<string, string>, options: RunWorkflowOptions, submitted: boolean): Promise<WorkflowResult> {
  const exec = new Execution(spec, name, namespace, uidOf(name), options);
  const declared = spec.arguments?.parameters ?? [];
  let parameters: Record<string, string>;
  try {
    parameters = resolveParameters(declared, given);
    const seen = new Set<string>();
    exec.validate(spec.entrypoint, false, exec.own, seen);
    if (spec.onExit) exec.validate(spec.onExit, true, exec.own, seen);
    // Then every template, reachable or not ("Check if all templates can be resolved"); Argo has
    // `workflow.status` (and with an exit handler `workflow.failures`) in scope for all of them.
    for (const t of spec.templates) {
      if (![...seen].some((k) => k.startsWith(`/${t.name}/`))) {
        try {
          exec.validate(t.name, spec.onExit !== undefined, exec.own, seen);
        } catch (err) {
          if (err instanceof InvalidSpecError && !err.message.startsWith(`templates.${t.name}`)) throw new InvalidSpecError(`templates.${t.name} ${err.message}`);
          throw err;
        }
      }
    }
  } catch (e) {
    if (e instanceof InvalidSpecError && !submitted) return endedBeforeStart(name, namespace, spec, "Failed", `invalid spec: ${e.message}`);
    throw e;
  }
  const repository = artifactRepositoryError(spec, namespace, options);
  if (repository !== undefined) return endedBeforeStart(name, namespace, spec, "Error", repository);

  const g = exec.globals;
  g["workflow.name"] = name;
  g["workflow.namespace"] = namespace;
  g["workflow.serviceAccountName"] = spec.serviceAccountName ?? "default";
  g["workflow.uid"] = exec.uid;
  const started = Date.now();
  g["workflow.creationTimestamp"] = iso(started);
  for (const [k, v] of Object.entries(parameters)) g[`workflow.parameters.${k}`] = v;
  g["workflow.parameters"] = JSON.stringify(declared.map((p) => ({ name: p.name, value: parameters[p.name] })));

  // Synchronization: the mutex names are substituted with the workflow's globals.
  const mutexes = (spec.synchronization?.mutexes ?? []).map((m) => replaceInJson(m.name, g));
  for (const m of mutexes) {
    if (tagsIn(m).length > 0) throw new RunnerError(`mutex ${m}: unresolved reference`);
  }
  const releaseWorkflowMutexes = await acquireMutexes(mutexes);
  try {
    // getWorkflowDeadline: from the moment the workflow runs (after its locks).
    if (spec.activeDeadlineSeconds !== undefined) exec.deadlineAt = Date.now() + Number(spec.activeDeadlineSeconds) * 1000;
    const main = await exec.execute({ name, template: spec.entrypoint }, name, name, undefined, { ...g }, {}, { scope: exec.own, exit: false });
    let phase: WorkflowResult["phase"] = main.phase === "Failed" ? "Failed" : main.phase === "Error" ? "Error" : "Succeeded";
    let message = main.message;
    if (spec.onExit) {
      const exitGlobals = { ...g, "workflow.status": phase, "workflow.failures": failuresValue(exec.nodes, name) };
      const onExit = await exec.execute({ name: "onExit", template: spec.onExit }, `${name}.onExit`, `${name}.onExit`, undefined, exitGlobals, {}, { scope: exec.own, exit: true });
      if (phase === "Succeeded" && (onExit.phase === "Failed" || onExit.phase === "Error")) {
        phase = onExit.phase;
        message = onExit.message;
      }
    }
    const finished = Date.now();
    // A child Workflow whose step gave up on it runs on in Argo; the runner lets it end too.
    await Promise.allSettled(exec.pending);
    return {
      name, namespace, uid: exec.uid, serviceAccountName: spec.serviceAccountName, phase, ...(message ? { message } : {}),
      startedAt: iso(started), finishedAt: iso(finished), durationMs: finished - started,
      parameters, outputs: { ...exec.globalOutputs }, mutexes: [...mutexes, ...exec.templateMutexes], nodes: exec.nodes, resources: exec.resources, childWorkflows: exec.children,
    };
  } finally {
    releaseWorkflowMutexes();
    if (options.removePods ?? true) for (const dir of exec.pods) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A Workflow created with a `workflowTemplateRef`, run as the controller runs it
 * (`operator.go`, `setExecWorkflow` / `setStoredWfSpec`; `validate.go`, `Workflow`): the referenced
 * template's spec, with the Workflow's `activeDeadlineSeconds` and `serviceAccountName` over it and
 * its arguments merged over the template's (`util.MergeParameters`). A missing template makes the
 * Workflow Error; a spec that does not validate makes it Failed (`invalid spec: …`).
 */
async function runChildWorkflow(created: ChildWorkflow["object"], options: RunWorkflowOptions): Promise<WorkflowResult> {
  const { name, namespace } = created.metadata;
  const ref = created.spec.workflowTemplateRef;
  const wt = givenTemplate(options, ref.name, !!ref.clusterScope, namespace);
  if (!wt) {
    const kind = ref.clusterScope ? "clusterworkflowtemplates" : "workflowtemplates";
    return endedBeforeStart(name, namespace, { entrypoint: "", templates: [] }, "Error", `${kind}.argoproj.io "${ref.name}" not found`);
  }
  const own = created.spec.arguments?.parameters ?? [];
  const parameters = [...own, ...(wt.spec.arguments?.parameters ?? []).filter((p) => !own.some((o) => o.name === p.name))];
  const spec: Spec = {
    ...wt.spec,
    ...(created.spec.activeDeadlineSeconds !== undefined ? { activeDeadlineSeconds: created.spec.activeDeadlineSeconds } : {}),
    ...(created.spec.serviceAccountName ? { serviceAccountName: created.spec.serviceAccountName } : {}),
    arguments: { parameters },
  };
  return runSpec(spec, name, namespace, {}, options, false);
}

/**
 * Runs the WorkflowTemplate as `argo submit --from workflowtemplate/<name>` would, offline.
 * Throws {@link InvalidSpecError} where Argo's validation refuses the submission and
 * {@link RunnerError} where the runner cannot execute faithfully; otherwise returns the run,
 * whatever its phase.
 */
export async function runWorkflow(workflowTemplate: unknown, options: RunWorkflowOptions): Promise<WorkflowResult> {
  checkWorkflowTemplate(workflowTemplate);
  const wt = workflowTemplate as { metadata: { name: string; namespace?: string }; spec: Spec };
  const declared = wt.spec.arguments?.parameters ?? [];
  for (const key of Object.keys(options.parameters)) {
    if (!declared.some((p) => p.name === key)) throw new RunnerError(`parameter ${key} is not declared by the WorkflowTemplate`);
  }
  const name = options.name ?? `${wt.metadata.name}-${randomSuffix()}`;
  return runSpec(wt.spec, name, wt.metadata.namespace ?? "default", options.parameters, options, true);
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
  // Argo shows a child Workflow on its own (`argo get <child>`); the runner prints each after its parent.
  const children = result.childWorkflows.filter((c) => c.result).map((c) => `\nChild workflow ${c.object.metadata.name} (created by ${c.createdBy})\n${formatTree(c.result!)}`);
  return [
    ...header,
    ...(params.length ? ["Parameters:", ...params] : []),
    "",
    line(["STEP", "TEMPLATE", "DURATION", "MESSAGE"]),
    ...rows.map(line),
    "",
  ].join("\n") + children.join("");
}

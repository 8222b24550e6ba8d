/**
 * A lint of Argo references in a rendered WorkflowTemplate (or CronWorkflow's workflow spec):
 * every `{{…}}` resolves to something declared, every dependency names a task, the DAG has no cycle,
 * a task reads another task's outputs only when it runs after it, every call passes exactly the
 * inputs its template needs, and no executable text (script source, command, args) holds `{{`.
 */
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IWorkflowSpec } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowSpec";
import type { IDAGTask } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/DAGTask";
import type { IWorkflowStep } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/WorkflowStep";
import type { IArguments } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Arguments";

/** Workflow-level variables Argo provides. */
const WORKFLOW_VARIABLES = new Set([
  "workflow.name", "workflow.namespace", "workflow.uid", "workflow.status", "workflow.failures",
  "workflow.serviceAccountName", "workflow.creationTimestamp", "workflow.duration", "workflow.mainEntrypoint",
]);

const REFERENCE = /\{\{\s*([^{}]*?)\s*\}\}/g;

/** Task names a `depends` expression mentions (`a.Succeeded && (b || c.Failed)` → a, b, c). */
export function dependsTasks(expression: string): string[] {
  const names = expression
    .replace(/&&|\|\||!|\(|\)/g, " ")
    .split(/\s+/)
    .filter(Boolean)
    .map((token) => token.replace(/\.(Succeeded|Failed|Errored|Skipped|Omitted|Daemoned|AnySucceeded|AllFailed)$/, ""));
  return [...new Set(names)];
}

/** The tasks a DAG task depends on. */
export function taskDependencies(task: IDAGTask): string[] {
  return [...(task.dependencies ?? []), ...(task.depends ? dependsTasks(task.depends) : [])];
}

function strings(value: unknown, at: string, out: Array<{ at: string; text: string }>): void {
  if (typeof value === "string") out.push({ at, text: value });
  else if (Array.isArray(value)) value.forEach((v, i) => strings(v, `${at}[${i}]`, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) strings(v, at ? `${at}.${k}` : k, out);
  }
}

/** Executable text of a template: where a `{{…}}` would become code. */
export function executableText(t: ITemplate): Array<{ at: string; text: string }> {
  const out: Array<{ at: string; text: string }> = [];
  const c = t.script ?? t.container;
  const kind = t.script ? "script" : "container";
  if (t.script?.source !== undefined) out.push({ at: `${t.name}.script.source`, text: t.script.source });
  (c?.command ?? []).forEach((text, i) => out.push({ at: `${t.name}.${kind}.command[${i}]`, text }));
  (c?.args ?? []).forEach((text, i) => out.push({ at: `${t.name}.${kind}.args[${i}]`, text }));
  return out;
}

/** Lints a workflow spec; returns one line per problem (empty when clean). */
export function lintWorkflowSpec(spec: IWorkflowSpec): string[] {
  const problems: string[] = [];
  const templates = new Map((spec.templates ?? []).map((t) => [t.name ?? "", t]));
  const workflowParams = new Set((spec.arguments?.parameters ?? []).map((p) => p.name));
  const globalOutputs = new Set<string>();
  for (const t of templates.values()) {
    for (const p of t.outputs?.parameters ?? []) if (p.globalName) globalOutputs.add(p.globalName);
  }

  if (spec.entrypoint && !templates.has(spec.entrypoint)) problems.push(`entrypoint ${spec.entrypoint}: no such template`);
  if (spec.onExit && !templates.has(spec.onExit)) problems.push(`onExit ${spec.onExit}: no such template`);

  const checkRef = (ref: string, where: string, t: ITemplate, visibleTasks: Map<string, IDAGTask> | undefined, runsAfter: Set<string> | undefined) => {
    let m: RegExpMatchArray | null;
    if ((m = ref.match(/^workflow\.parameters\.(.+)$/))) {
      if (!workflowParams.has(m[1])) problems.push(`${where}: {{${ref}}}: no workflow parameter ${m[1]}`);
    } else if ((m = ref.match(/^workflow\.outputs\.parameters\.(.+)$/))) {
      if (!globalOutputs.has(m[1])) problems.push(`${where}: {{${ref}}}: no output has globalName ${m[1]}`);
    } else if ((m = ref.match(/^inputs\.parameters\.(.+)$/))) {
      if (!(t.inputs?.parameters ?? []).some((p) => p.name === m![1])) problems.push(`${where}: {{${ref}}}: template ${t.name} has no input parameter ${m[1]}`);
    } else if ((m = ref.match(/^inputs\.artifacts\.(.+)$/))) {
      if (!(t.inputs?.artifacts ?? []).some((a) => a.name === m![1])) problems.push(`${where}: {{${ref}}}: template ${t.name} has no input artifact ${m[1]}`);
    } else if ((m = ref.match(/^tasks\.([^.]+)\.outputs\.(parameters|artifacts)\.(.+)$/))) {
      const [, taskName, kind, name] = m;
      const task = visibleTasks?.get(taskName);
      if (!task) {
        problems.push(`${where}: {{${ref}}}: no task ${taskName} here`);
        return;
      }
      if (runsAfter && !runsAfter.has(taskName)) problems.push(`${where}: {{${ref}}}: reads task ${taskName}, which it does not run after`);
      const target = task.template ? templates.get(task.template) : undefined;
      if (!target) {
        problems.push(`${where}: {{${ref}}}: task ${taskName} calls no local template, its outputs cannot be checked`);
        return;
      }
      const declared = kind === "parameters" ? target.outputs?.parameters ?? [] : target.outputs?.artifacts ?? [];
      if (!declared.some((o) => o.name === name)) problems.push(`${where}: {{${ref}}}: template ${target.name} declares no output ${kind.slice(0, -1)} ${name}`);
    } else if (!WORKFLOW_VARIABLES.has(ref)) {
      problems.push(`${where}: {{${ref}}}: unknown reference`);
    }
  };

  const checkCall = (where: string, templateName: string | undefined, args: IArguments | undefined) => {
    if (!templateName) return;
    const target = templates.get(templateName);
    if (!target) {
      problems.push(`${where}: template ${templateName} does not exist`);
      return;
    }
    const given = new Set((args?.parameters ?? []).map((p) => p.name));
    for (const p of target.inputs?.parameters ?? []) {
      if (!given.has(p.name) && p.value === undefined && p.default === undefined) problems.push(`${where}: input parameter ${p.name} of ${templateName} is not passed`);
    }
    for (const name of given) {
      if (!(target.inputs?.parameters ?? []).some((p) => p.name === name)) problems.push(`${where}: passes ${name}, which ${templateName} does not take`);
    }
    const givenArtifacts = new Set((args?.artifacts ?? []).map((a) => a.name));
    for (const a of target.inputs?.artifacts ?? []) {
      if (!givenArtifacts.has(a.name) && !a.optional && !a.from) problems.push(`${where}: input artifact ${a.name} of ${templateName} is not passed`);
    }
  };

  for (const t of templates.values()) {
    for (const e of executableText(t)) if (e.text.includes("{{")) problems.push(`${e.at}: executable text contains {{`);

    if (t.dag) {
      const tasks = new Map((t.dag.tasks ?? []).map((task) => [task.name, task]));
      const ancestors = (name: string, seen = new Set<string>(), path: string[] = []): Set<string> => {
        const task = tasks.get(name);
        for (const dep of task ? taskDependencies(task) : []) {
          if (path.includes(dep)) {
            problems.push(`dag ${t.name}: cycle through ${[...path, dep].join(" -> ")}`);
            continue;
          }
          if (!tasks.has(dep)) continue;
          if (!seen.has(dep)) {
            seen.add(dep);
            ancestors(dep, seen, [...path, dep]);
          }
        }
        return seen;
      };
      for (const task of tasks.values()) {
        for (const dep of taskDependencies(task)) if (!tasks.has(dep)) problems.push(`dag ${t.name} task ${task.name}: depends on unknown task ${dep}`);
        const after = ancestors(task.name, new Set(), [task.name]);
        const found: Array<{ at: string; text: string }> = [];
        strings({ arguments: task.arguments, when: task.when }, `${t.name}.${task.name}`, found);
        for (const s of found) for (const m of s.text.matchAll(REFERENCE)) checkRef(m[1], s.at, t, tasks, after);
        if (!task.templateRef) checkCall(`dag ${t.name} task ${task.name}`, task.template, task.arguments);
      }
      continue;
    }
    if (t.steps) {
      const earlier = new Map<string, IDAGTask>();
      t.steps.forEach((parallel, gi) => {
        // Argo's JSON has each group as a plain list; the generated type wraps it in `{steps}`.
        const group = (Array.isArray(parallel) ? parallel : parallel.steps) as IWorkflowStep[];
        for (const step of group) {
          const found: Array<{ at: string; text: string }> = [];
          strings({ arguments: step.arguments, when: step.when }, `${t.name}.steps[${gi}].${step.name}`, found);
          for (const s of found) {
            for (const m of s.text.matchAll(REFERENCE)) {
              const ref = m[1].replace(/^steps\./, "tasks.");
              checkRef(ref, s.at, t, earlier, undefined);
            }
          }
          checkCall(`steps ${t.name} step ${step.name}`, step.template, step.arguments);
        }
        for (const step of group) earlier.set(step.name ?? "", { name: step.name ?? "", template: step.template });
      });
      continue;
    }
    const found: Array<{ at: string; text: string }> = [];
    const { name: _name, ...rest } = t;
    strings(rest, `${t.name}`, found);
    for (const s of found) for (const m of s.text.matchAll(REFERENCE)) checkRef(m[1], s.at, t, undefined, undefined);
  }
  return problems;
}

/**
 * Runs one `script` template of the rendered WorkflowTemplate as Argo would: input parameters
 * resolved (given or default), `{{…}}` substituted into the container's env only, input artifacts
 * placed at their paths, the template's `source` written to a file and run under its `command`,
 * output parameters read from their `valueFrom.path`, output artifacts collected.
 *
 * The pod's filesystem is a fresh directory: every absolute path under the scratch mount (`/tmp`)
 * in env values and declared paths is re-rooted there, so runs never share files. Only what needs
 * a cluster is replaced, by stand-ins the test puts first on PATH.
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import { SCRATCH_DIR } from "../components/pod-security";

/** The workflow-level values a template may reference. */
export interface WorkflowContext {
  name?: string;
  namespace?: string;
  status?: string;
  uid?: string;
  parameters?: Record<string, string>;
  /** Global outputs (`{{workflow.outputs.parameters.X}}`). */
  outputs?: Record<string, string>;
}

/** Options of {@link runScriptTemplate}. */
export interface RunOptions {
  /** Input parameter values (by input name). */
  parameters?: Record<string, string>;
  /** Input artifacts: input name to a host file or directory copied to the artifact's path. */
  artifacts?: Record<string, string>;
  workflow?: WorkflowContext;
  /** Directories put first on PATH (stand-ins for kubectl, helm, git; busybox applets). */
  pathPrepend?: string[];
  /** Extra environment for the process, after the template's (for stand-ins' own settings only). */
  standInEnv?: Record<string, string>;
  /** Kill the step after this many milliseconds. Defaults to 120000. */
  timeoutMs?: number;
  /**
   * Kill the step at this moment (epoch milliseconds) instead, counted before input artifacts are
   * placed, as a pod's `activeDeadlineSeconds` counts the pod's whole life; a moment already past
   * never starts the process (exit code 137, as if killed at once).
   */
  deadlineAt?: number;
  /** Use this directory as the pod's root instead of a fresh one (to run a step twice on one state). */
  root?: string;
  /**
   * The caller already substituted the template as Argo does (the e2e runner substitutes the whole
   * template, leaving unresolved global outputs literal as Argo does): take env values verbatim.
   */
  envSubstituted?: boolean;
}

/** What a run produced. */
export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Output parameters that were written (missing ones are absent). */
  outputs: Record<string, string>;
  /** Output artifacts: name to host path, for those that exist. */
  artifacts: Record<string, string>;
  /** The pod's root directory on the host. */
  root: string;
  /** The env the container received (after substitution), before re-rooting. */
  env: Record<string, string>;
}

/** Substitutes Argo references; an unresolved one is an error, as it would be in Argo. */
export function substitute(text: string, scope: Record<string, string>, where: string): string {
  return text.replace(/\{\{\s*([^{}]+?)\s*\}\}/g, (_, ref: string) => {
    if (!(ref in scope)) throw new Error(`${where}: unresolved reference {{${ref}}}`);
    return scope[ref];
  });
}

/** Maps a pod path under the scratch mount to the host. */
export function hostPath(root: string, podPath: string): string {
  if (podPath === SCRATCH_DIR) return root;
  if (podPath.startsWith(`${SCRATCH_DIR}/`)) return path.join(root, podPath.slice(SCRATCH_DIR.length + 1));
  return podPath;
}

/** Runs a script template. */
export async function runScriptTemplate(template: ITemplate, options: RunOptions = {}): Promise<StepResult> {
  const script = template.script;
  if (!script || script.source === undefined) throw new Error(`template ${template.name} is not a script template`);
  const source = script.source;
  if (source.includes("{{")) throw new Error(`template ${template.name}: source contains {{`);

  const scope: Record<string, string> = {};
  for (const p of template.inputs?.parameters ?? []) {
    const given = options.parameters?.[p.name];
    const value = given ?? p.value;
    if (value === undefined) throw new Error(`template ${template.name}: input parameter ${p.name} has no value`);
    scope[`inputs.parameters.${p.name}`] = String(value);
  }
  for (const name of Object.keys(options.parameters ?? {})) {
    if (!(template.inputs?.parameters ?? []).some((p) => p.name === name)) {
      throw new Error(`template ${template.name}: no input parameter ${name}`);
    }
  }
  const wf = options.workflow ?? {};
  if (wf.name !== undefined) scope["workflow.name"] = wf.name;
  if (wf.namespace !== undefined) scope["workflow.namespace"] = wf.namespace;
  if (wf.status !== undefined) scope["workflow.status"] = wf.status;
  if (wf.uid !== undefined) scope["workflow.uid"] = wf.uid;
  for (const [k, v] of Object.entries(wf.parameters ?? {})) scope[`workflow.parameters.${k}`] = v;
  for (const [k, v] of Object.entries(wf.outputs ?? {})) scope[`workflow.outputs.parameters.${k}`] = v;

  const root = options.root ?? mkdtempSync(path.join(tmpdir(), `step-${template.name}-`));
  const env: Record<string, string> = {};
  for (const e of script.env ?? []) {
    if (e.valueFrom) continue; // secrets and fields: the test passes them through standInEnv
    env[e.name] = options.envSubstituted ? (e.value ?? "") : substitute(e.value ?? "", scope, `template ${template.name} env ${e.name}`);
  }
  for (const a of template.inputs?.artifacts ?? []) {
    const src = options.artifacts?.[a.name];
    if (src === undefined) {
      if (a.optional) continue;
      throw new Error(`template ${template.name}: input artifact ${a.name} not given`);
    }
    const dest = hostPath(root, a.path ?? "");
    mkdirSync(path.dirname(dest), { recursive: true });
    cpSync(src, dest, { recursive: true });
  }

  const scriptFile = path.join(root, ".argo-script");
  writeFileSync(scriptFile, source, { mode: 0o755 });
  const processEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) processEnv[k] = v.startsWith(SCRATCH_DIR) ? hostPath(root, v) : v;
  for (const dir of ["HOME", "TMPDIR"]) if (processEnv[dir]) mkdirSync(processEnv[dir], { recursive: true });
  const systemPath = process.env.PATH ?? "/usr/bin:/bin";
  processEnv.PATH = [...(options.pathPrepend ?? []), systemPath].join(":");
  Object.assign(processEnv, options.standInEnv ?? {});

  const command = script.command ?? ["sh"];
  const waitMs = options.deadlineAt !== undefined ? options.deadlineAt - Date.now() : options.timeoutMs ?? 120_000;
  const { code, stdout, stderr } = waitMs <= 0 ? { code: 137, stdout: "", stderr: "" } : await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    // Its own process group, so a kill reaches every process of the "container" (a `sleep` under
    // bash keeps the output pipes open and would otherwise outlive the kill).
    const child = spawn(command[0], [...command.slice(1), scriptFile], { cwd: root, env: processEnv, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
      } catch {
        child.kill("SIGKILL"); // the group is gone already
      }
    };
    const timer = setTimeout(kill, waitMs);
    child.on("error", reject);
    child.on("close", (c, signal) => {
      clearTimeout(timer);
      resolve({ code: c ?? (signal ? 137 : 1), stdout: out, stderr: err });
    });
  });

  const outputs: Record<string, string> = {};
  for (const p of template.outputs?.parameters ?? []) {
    const file = p.valueFrom?.path ? hostPath(root, p.valueFrom.path) : undefined;
    if (file && existsSync(file) && statSync(file).isFile()) outputs[p.name] = readFileSync(file, "utf8");
  }
  const artifacts: Record<string, string> = {};
  for (const a of template.outputs?.artifacts ?? []) {
    const file = hostPath(root, a.path ?? "");
    if (existsSync(file)) artifacts[a.name] = file;
  }
  return { code, stdout, stderr, outputs, artifacts, root, env };
}

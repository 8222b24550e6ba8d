/**
 * The one way a step script becomes an Argo `script` template: the source is the file
 * `components/steps/<file>.sh` verbatim, run by bash; every value reaches it through `env`;
 * the pod is Pod-Security-restricted with a scratch emptyDir and carries requests and limits.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { ITemplate } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Template";
import type { IInputs } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Inputs";
import type { IOutputs } from "@kubernetes-models/argo-workflows/argoproj.io/v1alpha1/Outputs";
import type { IEnvVar } from "kubernetes-models/v1/EnvVar";
import type { IVolumeMount } from "kubernetes-models/v1/VolumeMount";
import type { StackConfig } from "../config";
import { restrictedContainerSecurityContext, scratchMount, SCRATCH_DIR, stepResources } from "../pod-security";

/** Directory holding the step scripts. */
export const STEPS_DIR = path.join(__dirname, "..", "steps");

/** Where a step writes the files its outputs are read from. */
export const OUTPUT_DIR = `${SCRATCH_DIR}/outputs`;
/** Where a step's input artifacts are placed. */
export const INPUT_DIR = `${SCRATCH_DIR}/inputs`;

/** The shell library every step gets first: `die`, `value` and the shared input rules. */
export const RULES_LIBRARY = "rules";

/**
 * The text of `components/steps/<file>.sh`, embedded verbatim as a template's `source`. Shared
 * libraries (`components/steps/lib/<name>`, `lib/rules.sh` always first) are inserted right after
 * the script's `set -euo pipefail` line, so the step runs as one self-contained file: a shell library
 * (`<name>` or `<name>.sh`) as its text, a jq program (`<name>.jq`) as the shell variable
 * {@link jqProgramVariable}(`<name>`) holding the program's text.
 */
export function stepSource(file: string, extraLibraries: string[] = []): string {
  const script = readFileSync(path.join(STEPS_DIR, `${file}.sh`), "utf8");
  const libraries = [RULES_LIBRARY, ...extraLibraries.filter((lib) => lib !== RULES_LIBRARY)];
  const marker = "\nset -euo pipefail\n";
  const at = script.indexOf(marker);
  if (at < 0) throw new Error(`components/steps/${file}.sh: no 'set -euo pipefail' line to insert libraries after`);
  const libs = libraries.map((lib) => (lib.endsWith(".jq") ? embeddedJqProgram(lib.slice(0, -3)) : embeddedShellLibrary(lib)));
  const end = at + marker.length;
  const source = script.slice(0, end) + libs.join("") + script.slice(end);
  // Argo substitutes `{{…}}` textually: a source holding one would run whatever a parameter says.
  if (source.includes("{{")) throw new Error(`components/steps/${file}.sh: its source (with its libraries) contains '{{'`);
  return source;
}

function embeddedShellLibrary(lib: string): string {
  const name = lib.replace(/\.sh$/, "");
  const text = readFileSync(path.join(STEPS_DIR, "lib", `${name}.sh`), "utf8");
  return `# ---- lib/${name}.sh ----\n${text.replace(/^# shellcheck shell=bash\n/, "")}# ---- end lib/${name}.sh ----\n`;
}

/** The shell variable a step reads the jq program `lib/<name>.jq` from: `acceptance-figures` -> `ACCEPTANCE_FIGURES_JQ`. */
export const jqProgramVariable = (name: string): string => `${name.toUpperCase().replace(/-/g, "_")}_JQ`;

/**
 * The text of the jq program `lib/<name>.jq` with each `include "<module>";` line replaced by the
 * module `lib/<module>.jq` (the step runs without the library directory, so nothing is left to jq's
 * search path).
 */
export function jqProgram(name: string, including: string[] = []): string {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`jq program name ${JSON.stringify(name)}: lowercase letters, digits and '-' only`);
  if (including.includes(name)) throw new Error(`lib/${name}.jq includes itself: ${[...including, name].join(" -> ")}`);
  const text = readFileSync(path.join(STEPS_DIR, "lib", `${name}.jq`), "utf8");
  return text.replace(/^include "([^"]*)";$/gm, (_, module: string) => jqProgram(module, [...including, name]).replace(/\n$/, ""));
}

/** `lib/<name>.jq` as a quoted here-document read into {@link jqProgramVariable}(name), verbatim. */
function embeddedJqProgram(name: string): string {
  const variable = jqProgramVariable(name);
  const program = jqProgram(name);
  const delimiter = `END_OF_${variable}`;
  if (program.split("\n").includes(delimiter)) throw new Error(`lib/${name}.jq holds the line ${delimiter}`);
  return `# ---- lib/${name}.jq ----\nIFS= read -r -d '' ${variable} <<'${delimiter}' || true\n${program}${program.endsWith("\n") ? "" : "\n"}${delimiter}\n# ---- end lib/${name}.jq ----\n`;
}

/** Environment every step shares: a writable HOME and TMPDIR on the scratch volume. */
function baseEnv(): IEnvVar[] {
  return [
    { name: "HOME", value: `${SCRATCH_DIR}/home` },
    { name: "TMPDIR", value: SCRATCH_DIR },
    { name: "OUTPUT_DIR", value: OUTPUT_DIR },
  ];
}

/** What a script template is made of; everything else is the same for every step. */
export interface ScriptStep {
  /** Template name. */
  name: string;
  /** Script file under `components/steps/` (without `.sh`). Defaults to the template name. */
  file?: string;
  /** Libraries under `components/steps/lib/` the script uses: shell (without `.sh`) or jq programs (`<name>.jq`). */
  libraries?: string[];
  /** Container image, pinned. */
  image: string;
  /** Declared inputs. */
  inputs?: IInputs;
  /** Declared outputs. */
  outputs?: IOutputs;
  /** Plain env: name to value (values may hold Argo `{{…}}` references; the source never does). */
  env: Record<string, string>;
  /** Env from secrets or fields, appended as given. */
  envFrom?: IEnvVar[];
  /** Extra mounts beside the scratch volume (for example a ConfigMap of guardrail templates). */
  volumeMounts?: IVolumeMount[];
  /** The template's activeDeadlineSeconds. */
  deadlineSeconds: number;
  /** Extra template fields (for example `automountServiceAccountToken`, `executor`). */
  extra?: Partial<ITemplate>;
}

/** Builds the `script` template of one step. */
export function scriptTemplate(cfg: StackConfig, step: ScriptStep): ITemplate {
  const env: IEnvVar[] = [
    ...baseEnv(),
    ...Object.entries(step.env).map(([name, value]) => ({ name, value })),
    ...(step.envFrom ?? []),
  ];
  return {
    name: step.name,
    ...(step.inputs ? { inputs: step.inputs } : {}),
    ...(step.outputs ? { outputs: step.outputs } : {}),
    activeDeadlineSeconds: step.deadlineSeconds,
    ...step.extra,
    // Argo names a script container `main` itself; the schema's required `name` is filled in there.
    script: {
      image: step.image,
      imagePullPolicy: "IfNotPresent",
      command: ["bash"],
      source: stepSource(step.file ?? step.name, step.libraries),
      env,
      resources: stepResources(cfg),
      securityContext: restrictedContainerSecurityContext(cfg.runAsUser),
      volumeMounts: [scratchMount, ...(step.volumeMounts ?? [])],
    } as ITemplate["script"],
  };
}

/** `{{inputs.parameters.<name>}}`. */
export const input = (name: string): string => `{{inputs.parameters.${name}}}`;
/** `{{workflow.parameters.<name>}}`. */
export const workflowParam = (name: string): string => `{{workflow.parameters.${name}}}`;
/** `{{tasks.<task>.outputs.parameters.<name>}}`. */
export const taskOutput = (task: string, name: string): string => `{{tasks.${task}.outputs.parameters.${name}}}`;
/** Declares input parameters by name. */
export const inputParameters = (...names: string[]) => names.map((name) => ({ name }));
/** An output parameter read from `OUTPUT_DIR/<file>`. */
export const outputParameter = (name: string, file = name, globalName?: string) => ({
  name,
  valueFrom: { path: `${OUTPUT_DIR}/${file}` },
  ...(globalName ? { globalName } : {}),
});

/**
 * Template fields for a step that needs no Kubernetes API: no token in its pod. Argo then runs its
 * own executor under the executor service account, which may only report task results.
 */
export const withoutServiceAccountToken = (cfg: StackConfig): Partial<ITemplate> => ({
  automountServiceAccountToken: false,
  executor: { serviceAccountName: cfg.serviceAccounts.executor },
});

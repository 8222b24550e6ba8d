/**
 * `npm run doctor [-- --stack NAME] [--json]`: checks, read-only, that the cluster of the current
 * kube context has what this stack needs before `pulumi up` (or `kubectl apply -f manifests/`):
 * Kubernetes >= 1.30, Argo Workflows >= 3.6 with the fields the stack uses, the agent template and
 * the parameters it reads, the artifact repository, the three GitHub App Secrets filled in, the
 * ingress class and the workflows namespace.
 *
 * It runs the real `kubectl` found on PATH and only reads (`config current-context`, `version`,
 * `get`); it never prints a secret's value. Each check is an exported pure function of what kubectl
 * returned, tested with fixed inputs; `kubectlReads` is the one thin layer that talks to kubectl.
 *
 * Exit codes: 0 every check passed, 1 a check failed (or the stack config is invalid), 2 bad
 * arguments.
 */
import { execFile } from "node:child_process";
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { configSchema, ConfigError, parseConfig, type StackConfig } from "../components/config";
import { GITHUB_APPS, GITHUB_APP_SECRET_KEYS, githubAppSecretName, type GitHubAppName } from "../components/github-apps";
import { CODERUN_PARAMETERS } from "../components/workflow/agents";
import { PROJECT_ROOT, SECRET_PLACEHOLDER } from "./offline-render";

/** The outcome of one check, as printed and as `--json` emits it. */
export interface CheckResult {
  /** Short name of the check, e.g. `kubernetes`, `agent-template`, `github-app-qa`. */
  check: string;
  /** Whether the prerequisite is met. */
  ok: boolean;
  /** What was found (never a secret value). */
  detail: string;
  /** What to do when the check failed; null when it passed. */
  fix: string | null;
}

/**
 * What one `kubectl get … -o json` returned: the object, or the error kubectl printed.
 * `notFound` is true for the API server's `NotFound` (the object does not exist).
 */
export type Read =
  | { found: true; object: unknown }
  | { found: false; error: string; notFound: boolean };

/** Lowest Kubernetes minor version (1.x) the stack works on: ValidatingAdmissionPolicy v1 is GA in 1.30. */
export const MIN_KUBERNETES_MINOR = 30;
/** Lowest Argo Workflows version (3.x) with `synchronization.mutexes` and a CronWorkflow's `schedules`. */
export const MIN_ARGO = { major: 3, minor: 6 } as const;

/** The Argo CRDs the stack needs, and the field of each full schema the stack relies on. */
export const ARGO_CRDS = [
  { name: "workflows.argoproj.io", field: ["spec", "workflowTemplateRef"], why: "the agents' child Workflows" },
  { name: "workflowtemplates.argoproj.io", field: ["spec", "synchronization", "mutexes"], why: "the per-PR mutex" },
  { name: "cronworkflows.argoproj.io", field: ["spec", "schedules"], why: "the TTL sweeper" },
] as const;

/** One CRD of {@link ARGO_CRDS}. */
export type ArgoCrdName = (typeof ARGO_CRDS)[number]["name"];

/** What the kubectl layer reports when there is no kubectl to run. */
const KUBECTL_MISSING = "kubectl not found on PATH";

const pass = (check: string, detail: string): CheckResult => ({ check, ok: true, detail, fix: null });
const fail = (check: string, detail: string, fix: string): CheckResult => ({ check, ok: false, detail, fix });

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const field = (v: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((at, k) => (isObject(at) ? at[k] : undefined), v);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** The first line of a kubectl error, without trailing whitespace. */
const firstLine = (s: string): string => s.split("\n").map((l) => l.trim()).find((l) => l !== "") ?? "";

// ---------------------------------------------------------------------------------------------
// The checks: pure functions of what kubectl returned.
// ---------------------------------------------------------------------------------------------

/**
 * Kubernetes >= 1.30, from `kubectl version -o json`. Judges `serverVersion.major`/`minor` (a
 * managed cluster's minor may carry a `+`, e.g. `31+`), shows `gitVersion`. `error` is kubectl's
 * stderr when the call failed (kubectl still prints the client version then).
 */
export function checkKubernetesVersion(versionJson: unknown, error = ""): CheckResult {
  const server = field(versionJson, "serverVersion");
  if (!isObject(server)) {
    return fail(
      "kubernetes",
      `kubectl got no server version${error ? `: ${firstLine(error)}` : ""}`,
      error.startsWith(KUBECTL_MISSING)
        ? "install kubectl and put it on PATH"
        : "point kubectl at the cluster (kubectl config use-context NAME) and make sure it can reach the API server",
    );
  }
  const git = str(server.gitVersion) ?? "";
  const fromGit = /^v?(\d+)\.(\d+)/.exec(git);
  // Empty major/minor happen (some distributions' builds); gitVersion then says it.
  const major = Number.parseInt(str(server.major) || fromGit?.[1] || "", 10);
  const minor = Number.parseInt((str(server.minor) ?? "").replace(/\D+$/, "") || fromGit?.[2] || "", 10);
  const shown = git || `v${str(server.major) ?? "?"}.${str(server.minor) ?? "?"}`;
  if (Number.isNaN(major) || Number.isNaN(minor)) {
    return fail("kubernetes", `cannot read the server version from ${JSON.stringify(server)}`, "check the cluster's version by hand: it must be Kubernetes 1.30 or later");
  }
  if (major > 1 || (major === 1 && minor >= MIN_KUBERNETES_MINOR)) {
    return pass("kubernetes", `server ${shown} (>= 1.${MIN_KUBERNETES_MINOR})`);
  }
  return fail(
    "kubernetes",
    `server ${shown} is older than 1.${MIN_KUBERNETES_MINOR}: the stack's admission policy is a ValidatingAdmissionPolicy v1 (GA in 1.30)`,
    `upgrade the cluster to Kubernetes 1.${MIN_KUBERNETES_MINOR} or later`,
  );
}

/** The workflows namespace exists and is not being deleted. */
export function checkNamespace(read: Read, namespace: string): CheckResult {
  if (!read.found) {
    return fail(
      "namespace",
      read.notFound ? `namespace ${namespace} does not exist` : `cannot read namespace ${namespace}: ${read.error}`,
      read.notFound
        ? `install Argo Workflows into ${namespace} (or create it: kubectl create namespace ${namespace}), or set the config key namespace to the one it runs in`
        : "run the doctor with credentials that may get namespaces",
    );
  }
  const phase = str(field(read.object, "status", "phase")) ?? "Active";
  if (phase !== "Active") {
    return fail("namespace", `namespace ${namespace} is ${phase}`, `wait until ${namespace} is gone and create it again, or set the config key namespace to another`);
  }
  return pass("namespace", `namespace ${namespace} is Active`);
}

/** The `spec` schema of a CRD's served `v1alpha1` version (or its first version), if any. */
function specSchema(crd: unknown): Json | undefined {
  const versions = list(field(crd, "spec", "versions"));
  const version = versions.find((v) => field(v, "name") === "v1alpha1") ?? versions[0];
  const spec = field(version, "schema", "openAPIV3Schema", "properties", "spec");
  return isObject(spec) ? spec : undefined;
}

/** Whether a CRD carries Argo's full schema (the default install's minimal CRDs have no spec properties). */
export function hasFullSchema(crd: unknown): boolean {
  const props = field(specSchema(crd), "properties");
  return isObject(props) && Object.keys(props).length > 0;
}

/** Whether the schema under `spec` has the property path `path` (starting at `spec`). */
function schemaHas(crd: unknown, fieldPath: readonly string[]): boolean {
  let at: unknown = specSchema(crd);
  for (const key of fieldPath.slice(1)) {
    const props = field(at, "properties");
    if (!isObject(props) || !(key in props)) return false;
    at = props[key];
  }
  return true;
}

/**
 * The Argo CRDs exist; where one carries the full schema, it has the field the stack relies on
 * (`synchronization.mutexes`, `schedules`: Argo >= 3.6). `crds` holds what `kubectl get crd NAME`
 * returned for each name of {@link ARGO_CRDS}.
 */
export function checkArgoCrds(crds: Record<ArgoCrdName, Read>): CheckResult {
  const missing: string[] = [];
  const unreadable: string[] = [];
  const lacking: string[] = [];
  const full: string[] = [];
  const minimal: string[] = [];
  for (const crd of ARGO_CRDS) {
    const read = crds[crd.name];
    if (!read.found) {
      (read.notFound ? missing : unreadable).push(read.notFound ? crd.name : `${crd.name} (${read.error})`);
      continue;
    }
    if (!hasFullSchema(read.object)) {
      minimal.push(crd.name);
      continue;
    }
    full.push(crd.name);
    if (!schemaHas(read.object, crd.field)) lacking.push(`${crd.name} has no ${crd.field.join(".")} (${crd.why})`);
  }
  const problems = [
    ...(missing.length ? [`missing CRD ${missing.join(", ")}`] : []),
    ...(unreadable.length ? [`cannot read CRD ${unreadable.join(", ")}`] : []),
    ...lacking,
  ];
  if (problems.length) {
    return fail(
      "argo-crds",
      problems.join("; "),
      missing.length || lacking.length
        ? "install or upgrade Argo Workflows to 3.6 or later (its CRDs included: the full CRDs with kubectl apply --server-side)"
        : "run the doctor with credentials that may get customresourcedefinitions",
    );
  }
  const schemas = [
    ...(full.length ? [`full schema with the fields the stack uses: ${full.join(", ")}`] : []),
    ...(minimal.length ? [`minimal schema, fields not checked: ${minimal.join(", ")}`] : []),
  ];
  return pass("argo-crds", `${ARGO_CRDS.map((c) => c.name).join(", ")} exist (${schemas.join("; ")})`);
}

/** A container image split into its repository path and tag (either may be empty). */
export function parseImage(image: string): { repository: string; tag: string } {
  const noDigest = image.split("@")[0];
  const slash = noDigest.lastIndexOf("/");
  const colon = noDigest.lastIndexOf(":");
  if (colon > slash) return { repository: noDigest.slice(0, colon), tag: noDigest.slice(colon + 1) };
  return { repository: noDigest, tag: "" };
}

/**
 * Argo Workflows >= 3.6, from the workflow controller's image tag in `kubectl get deployments -o
 * json` (a DeploymentList): the containers whose image is `…/workflow-controller:<tag>`. Fails, saying
 * so, when no controller is found or its tag carries no version (`latest`, a digest only).
 * `error` is kubectl's error when the deployments could not be listed; `onlyIn` the namespace
 * listed when listing every namespace was not allowed.
 */
export function checkArgoVersion(deployments: unknown, error = "", onlyIn = ""): CheckResult {
  const undetermined = "cannot determine the Argo Workflows version";
  const byHand = `check by hand that the workflow controller is Argo Workflows ${MIN_ARGO.major}.${MIN_ARGO.minor} or later (argo version)`;
  if (error) return fail("argo-version", `${undetermined}: cannot list deployments: ${firstLine(error)}`, `run the doctor with credentials that may list deployments, or ${byHand}`);
  const found: Array<{ where: string; image: string; tag: string }> = [];
  for (const d of list(field(deployments, "items"))) {
    const where = `${str(field(d, "metadata", "namespace")) ?? "?"}/${str(field(d, "metadata", "name")) ?? "?"}`;
    for (const c of list(field(d, "spec", "template", "spec", "containers"))) {
      const image = str(field(c, "image")) ?? "";
      const { repository, tag } = parseImage(image);
      if (repository.split("/").pop() === "workflow-controller") found.push({ where, image, tag });
    }
  }
  if (found.length === 0) {
    const where = onlyIn ? ` in ${onlyIn} (listing every namespace is not allowed)` : "";
    return fail("argo-version", `${undetermined}: no Deployment${where} runs a …/workflow-controller image`, `install Argo Workflows ${MIN_ARGO.major}.${MIN_ARGO.minor} or later, or, when its controller runs elsewhere, ${byHand}`);
  }
  const old: string[] = [];
  const unknown: string[] = [];
  const good: string[] = [];
  for (const f of found) {
    const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?/.exec(f.tag);
    if (!m) {
      unknown.push(`${f.where} runs ${f.image}, whose tag is no version`);
      continue;
    }
    const version = `v${m[1]}.${m[2]}${m[3] !== undefined ? `.${m[3]}` : ""}`;
    const major = Number(m[1]);
    const minor = Number(m[2]);
    if (major > MIN_ARGO.major || (major === MIN_ARGO.major && minor >= MIN_ARGO.minor)) good.push(`${f.where} ${version}`);
    else old.push(`${f.where} runs ${version}, older than ${MIN_ARGO.major}.${MIN_ARGO.minor}`);
  }
  if (old.length) {
    return fail(
      "argo-version",
      `${old.join("; ")}: the stack uses synchronization.mutexes and a CronWorkflow's schedules (3.6 and later)`,
      `upgrade Argo Workflows to ${MIN_ARGO.major}.${MIN_ARGO.minor} or later`,
    );
  }
  if (unknown.length) {
    return fail("argo-version", `${undetermined}: ${unknown.join("; ")}`, `pin the controller image to a release tag (v${MIN_ARGO.major}.${MIN_ARGO.minor}.0 or later), or ${byHand}`);
  }
  return pass("argo-version", `workflow controller ${good.join(", ")} (>= ${MIN_ARGO.major}.${MIN_ARGO.minor})`);
}

/** Argo's `{{workflow.parameters.json}}` (every parameter as JSON) is no parameter of that name. */
const BUILTIN_WORKFLOW_PARAMETERS = new Set(["json"]);

/** Every string in a JSON value (keys included), depth first. */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      out.push(k);
      strings(v, out);
    }
  }
  return out;
}

/**
 * The names of every `workflow.parameters.X` an Argo template reads, in any string of `value`
 * (script sources included): simple tags `{{workflow.parameters.X}}` and expression tags
 * `{{= … workflow.parameters.X … workflow.parameters['X'] …}}`. Sorted, without duplicates.
 */
export function workflowParameterReads(value: unknown): string[] {
  const names = new Set<string>();
  for (const text of strings(value)) {
    for (const tag of text.matchAll(/\{\{(.*?)\}\}/gs)) {
      const body = tag[1];
      if (body.trimStart().startsWith("=")) {
        // An expression (expr): `.name` stops at anything not an identifier character, since `-` is minus.
        for (const m of body.matchAll(/workflow\.parameters(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*(?:'([^']+)'|"([^"]+)")\s*\])/g)) {
          names.add(m[1] ?? m[2] ?? m[3]);
        }
      } else {
        const m = /^\s*workflow\.parameters\.([A-Za-z0-9_.-]+)\s*$/.exec(body);
        if (m) names.add(m[1]);
      }
    }
  }
  return [...names].filter((n) => !BUILTIN_WORKFLOW_PARAMETERS.has(n)).sort();
}

/** Whether an Argo parameter carries a value of its own (`value`, `default` or `valueFrom`). */
const hasValue = (p: unknown): boolean => ["value", "default", "valueFrom"].some((k) => field(p, k) !== undefined);

/** Where the agent template lives: its name, and its namespace unless it is a ClusterWorkflowTemplate. */
export interface AgentTemplateRef {
  /** `agent.templateName`. */
  name: string;
  /** `agent.clusterScope`: a ClusterWorkflowTemplate. */
  clusterScope: boolean;
  /** The workflows namespace (`namespace`); unused for a ClusterWorkflowTemplate. */
  namespace: string;
}

/** How a person names the agent template: `WorkflowTemplate argo/coderun-template`. */
const describeTemplate = (ref: AgentTemplateRef): string =>
  ref.clusterScope ? `ClusterWorkflowTemplate ${ref.name}` : `WorkflowTemplate ${ref.namespace}/${ref.name}`;

/**
 * The agent template exists, has an entrypoint that names one of its templates, and reads only the
 * workflow parameters the pipeline gives its child Workflows (`given`: CODERUN_PARAMETERS) or that
 * it defaults itself in `spec.arguments.parameters`. Argo validates a submitted Workflow against
 * every template it references, so an unknown `workflow.parameters.X` fails the agent's submit, as
 * does a declared parameter without a value that nobody gives, or an entrypoint input without one.
 */
export function checkAgentTemplate(read: Read, given: readonly string[], ref: AgentTemplateRef): CheckResult {
  const what = describeTemplate(ref);
  if (!read.found) {
    const kind = ref.clusterScope ? "ClusterWorkflowTemplate" : "WorkflowTemplate";
    return fail(
      "agent-template",
      read.notFound ? `${what} not found` : `cannot read ${what}: ${read.error}`,
      read.notFound
        ? `install the platform's agent template${ref.clusterScope ? "" : ` in ${ref.namespace}`}, or set agent.templateName (and agent.clusterScope) to the template the agents run`
        : /doesn't have a resource type/.test(read.error)
          ? `install Argo Workflows ${MIN_ARGO.major}.${MIN_ARGO.minor} or later (the cluster knows no ${kind}), then the platform's agent template`
          : `run the doctor with credentials that may get ${kind.toLowerCase()}s`,
    );
  }
  const spec = field(read.object, "spec");
  const declared = list(field(spec, "arguments", "parameters"));
  const defaulted = new Set(declared.filter(hasValue).map((p) => str(field(p, "name")) ?? ""));
  const givenSet = new Set(given);
  const problems: string[] = [];
  const fixes: string[] = [];

  const entrypoint = str(field(spec, "entrypoint")) ?? "";
  const templates = list(field(spec, "templates"));
  const entry = templates.find((t) => field(t, "name") === entrypoint);
  if (!entrypoint) {
    problems.push(`${ref.name} has no entrypoint (spec.entrypoint)`);
    fixes.push("set spec.entrypoint to the template the agent runs: the child Workflow names only the template, so Argo runs its entrypoint");
  } else if (!entry) {
    problems.push(`${ref.name}'s entrypoint ${entrypoint} names none of its templates`);
    fixes.push("set spec.entrypoint to one of spec.templates");
  }

  const unknown = workflowParameterReads(spec).filter((n) => !givenSet.has(n) && !defaulted.has(n));
  if (unknown.length) {
    problems.push(
      `${ref.name} reads ${unknown.map((n) => `workflow.parameters.${n}`).join(", ")}, which the pipeline does not give (it gives ${given.join(", ")}) and the template does not default`,
    );
    fixes.push("give each a default in the template's spec.arguments.parameters, or stop reading it");
  }
  const valueless = declared
    .filter((p) => !hasValue(p))
    .map((p) => str(field(p, "name")) ?? "")
    .filter((n) => n !== "" && !givenSet.has(n));
  if (valueless.length) {
    problems.push(`${ref.name} declares workflow parameter${valueless.length > 1 ? "s" : ""} ${valueless.join(", ")} without a value, which the pipeline does not give`);
    fixes.push("give each a value in spec.arguments.parameters");
  }
  const entryInputs = list(field(entry, "inputs", "parameters"))
    .filter((p) => !hasValue(p))
    .map((p) => str(field(p, "name")) ?? "")
    .filter((n) => n !== "" && !givenSet.has(n) && !defaulted.has(n));
  if (entryInputs.length) {
    problems.push(`${ref.name}'s entrypoint ${entrypoint} needs input${entryInputs.length > 1 ? "s" : ""} ${entryInputs.join(", ")}, which the pipeline does not give`);
    fixes.push("give each input a default, or read workflow parameters the pipeline gives");
  }
  if (problems.length) return fail("agent-template", problems.join("; "), `${fixes.join("; ")} (Argo refuses to submit a Workflow that references an unknown workflow parameter)`);

  const reads = workflowParameterReads(spec);
  const own = reads.filter((n) => !givenSet.has(n));
  return pass(
    "agent-template",
    `${what}: entrypoint ${entrypoint}, reads ${reads.length} workflow parameter${reads.length === 1 ? "" : "s"}, ` +
      (own.length ? `${reads.length - own.length} given by the pipeline, ${own.join(", ")} defaulted by the template` : "all given by the pipeline"),
  );
}

/** Where the artifact repository is configured: the `artifactRepository` config and the namespace. */
export interface ArtifactRepositoryRef {
  /** `artifactRepository.configMap`. */
  configMap: string;
  /** `artifactRepository.key`. */
  key: string;
  /** `artifactRepository.storage`. */
  storage: StackConfig["artifactRepository"]["storage"];
  /** The workflows namespace. */
  namespace: string;
}

/** The fields Argo needs of a repository to place a key-only artifact (its `HasLocation` rule). */
const LOCATION_FIELDS: Record<"s3" | "gcs" | "oss", string[]> = { s3: ["endpoint", "bucket"], gcs: ["bucket"], oss: ["endpoint", "bucket"] };

/**
 * The artifact repository exists: the ConfigMap holds the key, and its YAML is a repository of the
 * configured kind with what Argo needs to place a key-only artifact (s3/oss: endpoint and bucket;
 * gcs: bucket). With storage `none` the key only has to exist.
 */
export function checkArtifactRepository(read: Read, ref: ArtifactRepositoryRef): CheckResult {
  const cm = `ConfigMap ${ref.namespace}/${ref.configMap}`;
  const howTo = `create ${cm} with key ${ref.key} holding ${ref.storage === "none" ? "the" : `an ${ref.storage}`} artifact repository (README: Prerequisites), or set artifactRepository.configMap/key to the one the platform provides`;
  if (!read.found) {
    return fail("artifact-repository", read.notFound ? `${cm} not found` : `cannot read ${cm}: ${read.error}`, read.notFound ? howTo : "run the doctor with credentials that may get configmaps");
  }
  const data = field(read.object, "data");
  const value = isObject(data) ? str(data[ref.key]) : undefined;
  if (value === undefined) {
    const keys = isObject(data) ? Object.keys(data) : [];
    return fail("artifact-repository", `${cm} has no key ${ref.key} (it has ${keys.length ? keys.join(", ") : "no keys"})`, howTo);
  }
  if (ref.storage === "none") return pass("artifact-repository", `${cm} key ${ref.key} exists (storage none: its kind is not checked)`);
  let repo: unknown;
  try {
    repo = parseYaml(value);
  } catch (e) {
    return fail("artifact-repository", `${cm} key ${ref.key} is not YAML: ${firstLine(e instanceof Error ? e.message : String(e))}`, howTo);
  }
  const kind = field(repo, ref.storage);
  if (!isObject(kind)) {
    const kinds = isObject(repo) ? Object.keys(repo).filter((k) => k !== "archiveLogs") : [];
    return fail(
      "artifact-repository",
      `${cm} key ${ref.key} is not an ${ref.storage} repository (it has ${kinds.length ? kinds.join(", ") : "no repository"})`,
      kinds.some((k): k is "s3" | "gcs" | "oss" => k in LOCATION_FIELDS)
        ? `set artifactRepository.storage to the repository's kind, or point artifactRepository.key at an ${ref.storage} repository`
        : howTo,
    );
  }
  const absent = LOCATION_FIELDS[ref.storage].filter((f) => !str(kind[f]));
  if (absent.length) {
    return fail("artifact-repository", `${cm} key ${ref.key}: the ${ref.storage} repository has no ${absent.join(" and no ")}`, `give the ${ref.storage} repository its ${LOCATION_FIELDS[ref.storage].join(" and ")}`);
  }
  const at = str(kind.endpoint) ? ` at ${str(kind.endpoint)}` : "";
  return pass("artifact-repository", `${cm} key ${ref.key}: ${ref.storage} bucket ${str(kind.bucket)}${at}`);
}

const idRules = configSchema.shape.github.shape.apps.shape.rex.shape;

/** What is wrong with a PEM private key (never its content), or null when it is a usable RSA key. */
export function privateKeyProblem(pem: string): string | null {
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----/.test(pem)) return "is encrypted, and the steps sign with it as it is";
  if (!/-----BEGIN (RSA |EC |)PRIVATE KEY-----/.test(pem)) return "is not a PEM private key";
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== "rsa") return `is not RSA (it is ${key.asymmetricKeyType ?? "unknown"}), and a GitHub App's key is RSA (its JWT is RS256)`;
    return null;
  } catch {
    return "is not a readable PEM private key";
  }
}

/**
 * A GitHub App Secret (`github-app-<app>`) exists and is filled in: `app-id` a numeric app id or a
 * client id, `installation-id` numeric or empty (then each repository's installation is looked up
 * from the App), `private-key` an RSA PEM private key; none missing or the offline render's
 * placeholder `[secret]`, and only `installation-id` empty. Reads the Secret's base64 `data`; the detail never
 * carries a value.
 */
export function checkGitHubAppSecret(read: Read, app: GitHubAppName, namespace: string): CheckResult {
  const name = githubAppSecretName(app);
  const secret = `Secret ${namespace}/${name}`;
  const check = `github-app-${app}`;
  const fill =
    `run pulumi up with github.apps.${app}.appId/installationId in config and the key in secret config ${app}PrivateKey, ` +
    `or fill it in: kubectl create secret generic ${name} -n ${namespace} --from-literal=app-id=ID --from-literal=installation-id=ID --from-file=private-key=${app}.private-key.pem`;
  if (!read.found) {
    return fail(check, read.notFound ? `${secret} not found` : `cannot read ${secret}: ${read.error}`, read.notFound ? fill : "run the doctor with credentials that may get secrets in the workflows namespace");
  }
  const data = field(read.object, "data");
  const decoded = (key: string): string | undefined => {
    const v = isObject(data) ? str(data[key]) : undefined;
    return v === undefined ? undefined : Buffer.from(v, "base64").toString("utf8");
  };
  const problems: string[] = [];
  for (const key of Object.values(GITHUB_APP_SECRET_KEYS)) {
    const value = decoded(key);
    if (value === undefined) problems.push(`${key} is missing`);
    else if (key === GITHUB_APP_SECRET_KEYS.installationId && value === "") continue;
    else if (value.trim() === "") problems.push(`${key} is empty`);
    else if (value.trim() === SECRET_PLACEHOLDER) problems.push(`${key} is the placeholder ${SECRET_PLACEHOLDER}`);
    else if (key !== GITHUB_APP_SECRET_KEYS.privateKey && value !== value.trim()) problems.push(`${key} has white space around it (a newline from a file?)`);
    else if (key === GITHUB_APP_SECRET_KEYS.appId && !idRules.appId.safeParse(value).success) problems.push(`${key} is not a numeric app id or a client id`);
    else if (key === GITHUB_APP_SECRET_KEYS.installationId && !idRules.installationId.safeParse(value).success) problems.push(`${key} is not a numeric installation id`);
    else if (key === GITHUB_APP_SECRET_KEYS.privateKey) {
      const problem = privateKeyProblem(value);
      if (problem) problems.push(`${key} ${problem}`);
    }
  }
  if (problems.length) return fail(check, `${secret}: ${problems.join("; ")}`, fill);
  const installation = decoded(GITHUB_APP_SECRET_KEYS.installationId) === "" ? "installation-id empty (each repository's looked up from the App)" : "installation-id";
  return pass(check, `${secret}: app-id, ${installation} and an RSA private-key filled in`);
}

/** The IngressClass the previews are served through exists. */
export function checkIngressClass(read: Read, name: string): CheckResult {
  if (!read.found) {
    return fail(
      "ingress-class",
      read.notFound ? `IngressClass ${name} not found` : `cannot read IngressClass ${name}: ${read.error}`,
      read.notFound
        ? `install the ingress controller that serves the previews, or set deploy.ingressClass to one of the cluster's classes (kubectl get ingressclass)`
        : "run the doctor with credentials that may get ingressclasses",
    );
  }
  const controller = str(field(read.object, "spec", "controller"));
  return pass("ingress-class", `IngressClass ${name}${controller ? ` (controller ${controller})` : ""}`);
}

// ---------------------------------------------------------------------------------------------
// The thin layer that runs kubectl.
// ---------------------------------------------------------------------------------------------

/** What one kubectl run returned. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs kubectl with the given arguments (never a shell). */
export type Kubectl = (args: string[]) => Promise<KubectlResult>;

/** The `kubectl` first on the PATH of `env`, run as a child process. */
export function systemKubectl(env: NodeJS.ProcessEnv = process.env): Kubectl {
  return (args) =>
    new Promise((resolve) => {
      execFile("kubectl", args, { env, maxBuffer: 512 * 1024 * 1024, encoding: "utf8" }, (error, stdout, stderr) => {
        if (error && (error as NodeJS.ErrnoException).code === "ENOENT") {
          resolve({ code: 127, stdout: "", stderr: `${KUBECTL_MISSING}\n` });
          return;
        }
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
}

/** Turns a `kubectl get … -o json` result into a {@link Read}. */
export function toRead(result: KubectlResult): Read {
  if (result.code === 0) {
    try {
      return { found: true, object: JSON.parse(result.stdout) as unknown };
    } catch {
      return { found: false, error: "kubectl printed no JSON", notFound: false };
    }
  }
  const error = firstLine(result.stderr) || `kubectl exited ${result.code}`;
  return { found: false, error, notFound: /^Error from server \(NotFound\)/.test(error) };
}

/** The config the checks read, and nothing else. */
export type DoctorConfig = Pick<StackConfig, "namespace" | "agent" | "artifactRepository" | "deploy">;

/** The kube context kubectl uses, or null when none is set. */
export async function currentContext(kubectl: Kubectl): Promise<string | null> {
  const r = await kubectl(["config", "current-context"]);
  return r.code === 0 ? r.stdout.trim() || null : null;
}

/**
 * Runs every check against the cluster, in order, one kubectl read at a time. When kubectl reaches
 * no API server, the checks that need one fail as not checked instead of each timing out.
 */
export async function runChecks(cfg: DoctorConfig, kubectl: Kubectl): Promise<CheckResult[]> {
  const get = async (...args: string[]): Promise<Read> => toRead(await kubectl(["get", ...args, "-o", "json"]));
  const ns = cfg.namespace;

  const version = await kubectl(["version", "-o", "json"]);
  let versionJson: unknown;
  try {
    versionJson = JSON.parse(version.stdout);
  } catch {
    versionJson = undefined;
  }
  const kubernetes = checkKubernetesVersion(versionJson, version.code === 0 ? "" : version.stderr);
  const results: CheckResult[] = [kubernetes];
  const rest = ["namespace", "argo-crds", "argo-version", "agent-template", "artifact-repository", ...GITHUB_APPS.map((a) => `github-app-${a}`), "ingress-class"];
  if (!isObject(field(versionJson, "serverVersion"))) {
    return [...results, ...rest.map((check) => fail(check, "not checked: kubectl reached no API server", "fix the kubernetes check first"))];
  }

  results.push(checkNamespace(await get("namespace", ns), ns));

  const crds = {} as Record<ArgoCrdName, Read>;
  for (const crd of ARGO_CRDS) crds[crd.name] = await get("customresourcedefinition", crd.name);
  results.push(checkArgoCrds(crds));

  // Listing every namespace needs a cluster-wide right; without it, look where Argo usually runs.
  let deployments = await get("deployments", "--all-namespaces");
  const onlyIn = deployments.found ? "" : ns;
  if (!deployments.found) deployments = await get("deployments", "-n", ns);
  results.push(deployments.found ? checkArgoVersion(deployments.object, "", onlyIn) : checkArgoVersion(undefined, deployments.error));

  const ref: AgentTemplateRef = { name: cfg.agent.templateName, clusterScope: cfg.agent.clusterScope, namespace: ns };
  const template = ref.clusterScope
    ? await get("clusterworkflowtemplates.argoproj.io", ref.name)
    : await get("workflowtemplates.argoproj.io", ref.name, "-n", ns);
  results.push(checkAgentTemplate(template, CODERUN_PARAMETERS, ref));

  const repo = cfg.artifactRepository;
  results.push(checkArtifactRepository(await get("configmap", repo.configMap, "-n", ns), { ...repo, namespace: ns }));

  for (const app of GITHUB_APPS) results.push(checkGitHubAppSecret(await get("secret", githubAppSecretName(app), "-n", ns), app, ns));

  results.push(checkIngressClass(await get("ingressclass", cfg.deploy.ingressClass), cfg.deploy.ingressClass));
  return results;
}

/** The checks as a person reads them: `PASS  check  detail`, a fix under each failure, a summary. */
export function formatResults(results: CheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${r.ok ? "PASS" : "FAIL"}  ${r.check}  ${r.detail}`);
    if (!r.ok && r.fix) lines.push(`      fix: ${r.fix}`);
  }
  const failed = results.filter((r) => !r.ok).length;
  lines.push(failed ? `${failed} of ${results.length} checks failed` : `all ${results.length} checks passed`);
  return `${lines.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// The command line.
// ---------------------------------------------------------------------------------------------

/** Thrown for bad arguments (exit 2); the message names the argument. */
export class UsageError extends Error {}

/** The parsed command line. */
export interface DoctorArgs {
  /** Stack whose `Pulumi.<stack>.yaml` is read. Defaults to `preview`. */
  stack: string;
  /** Print a JSON array of {check, ok, detail, fix} instead of lines. */
  json: boolean;
  /** Print the usage and exit 0. */
  help: boolean;
}

/** The usage line. */
export const USAGE = "usage: npm run doctor [-- --stack NAME] [--json]";

/** Parses the arguments; throws a {@link UsageError} naming the bad one. */
export function parseArgs(argv: string[]): DoctorArgs {
  const args: DoctorArgs = { stack: "preview", json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--help" || arg === "-h") args.help = true;
    else if (arg === "--stack" || arg.startsWith("--stack=")) {
      const value = arg === "--stack" ? argv[++i] : arg.slice("--stack=".length);
      if (value === undefined || value === "" || value.startsWith("--")) throw new UsageError("--stack needs a stack name");
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(value)) throw new UsageError(`--stack ${JSON.stringify(value)} is not a stack name (letters, digits, '.', '_', '-')`);
      args.stack = value;
    } else throw new UsageError(`unknown argument ${JSON.stringify(arg)}`);
  }
  return args;
}

/**
 * Reads `Pulumi.<stack>.yaml` into Pulumi's flat config map, as the offline render's
 * `readStackConfig` does, except that encrypted (`secure:`) values are skipped rather than refused:
 * a real stack holds its private keys that way, and the doctor needs none of them.
 */
export function readStackConfigForDoctor(projectRoot: string, stack: string): Record<string, string> {
  const doc = (parseYaml(readFileSync(path.join(projectRoot, `Pulumi.${stack}.yaml`), "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (isObject(value) && "secure" in value) continue;
    flat[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return flat;
}

/** Where {@link main} reads, runs and writes; the command line passes the process's own. */
export interface DoctorIo {
  /** Directory holding `Pulumi.<stack>.yaml`. */
  projectRoot: string;
  /** Runs kubectl. */
  kubectl: Kubectl;
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** The whole program: returns the exit code (0 all passed, 1 a check failed or bad config, 2 bad arguments). */
export async function main(argv: string[], io: DoctorIo): Promise<number> {
  let args: DoctorArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr(`ERROR: ${e.message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const file = path.join(io.projectRoot, `Pulumi.${args.stack}.yaml`);
  if (!existsSync(file)) {
    io.stderr(`ERROR: --stack ${args.stack}: there is no ${file}\n${USAGE}\n`);
    return 2;
  }
  let cfg: StackConfig;
  try {
    cfg = parseConfig(readStackConfigForDoctor(io.projectRoot, args.stack));
  } catch (e) {
    if (!(e instanceof ConfigError) && !(e instanceof Error && e.name === "YAMLParseError")) throw e;
    io.stderr(`${file}: ${e.message}\n`);
    return 1;
  }
  const context = args.json ? null : await currentContext(io.kubectl);
  const results = await runChecks(cfg, io.kubectl);
  if (args.json) io.stdout(`${JSON.stringify(results, null, 2)}\n`);
  else io.stdout(`Checking kube context ${context ?? "(none set)"} for stack ${args.stack}\n${formatResults(results)}`);
  return results.every((r) => r.ok) ? 0 : 1;
}

if (require.main === module) {
  void main(process.argv.slice(2), {
    projectRoot: PROJECT_ROOT,
    kubectl: systemKubectl(process.env),
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
  }).then((code) => {
    process.exitCode = code;
  });
}

/**
 * A scripted cluster for `npm run doctor`: what the real kubectl prints for each read the doctor
 * makes against a cluster that has every prerequisite, and the ways to take one away. A missing
 * object is answered as kubectl answers it (`Error from server (NotFound): …` on stderr, exit 1);
 * any call the script does not know is refused loudly, so an unexpected (or writing) call fails the
 * test instead of getting a kind answer.
 */
import { generateKeyPairSync } from "node:crypto";
import type { ToolCall, ToolReply } from "../../simulator/stand-ins";

/** An RSA private key in GitHub's format (PKCS#1 PEM), made once per test file. */
export const RSA_KEY = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
/** An EC private key (not what GitHub issues). */
export const EC_KEY = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "sec1", format: "pem" }).toString();

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** What `kubectl version -o json` prints for a server of the given version. */
export function versionJson(major: string, minor: string, gitVersion: string): Record<string, unknown> {
  return {
    clientVersion: { major: "1", minor: "35", gitVersion: "v1.35.0", platform: "linux/amd64" },
    kustomizeVersion: "v5.7.1",
    serverVersion: { major, minor, gitVersion, platform: "linux/amd64" },
  };
}

/** An Argo CRD as the default install ships it (minimal: `spec` without properties). */
export function minimalCrd(name: string): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name },
    spec: {
      group: "argoproj.io",
      versions: [{
        name: "v1alpha1", served: true, storage: true,
        schema: { openAPIV3Schema: { type: "object", properties: { apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" }, spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-map-type": "atomic" } } } },
      }],
    },
  };
}

/** An Argo CRD with a full schema whose `spec` has the given properties (each a nested path). */
export function fullCrd(name: string, ...paths: string[][]): Record<string, unknown> {
  const spec: Record<string, unknown> = { type: "object", properties: { entrypoint: { type: "string" } } };
  for (const p of paths) {
    let at = spec;
    for (const key of p) {
      const props = (at.properties ??= {}) as Record<string, Record<string, unknown>>;
      at = props[key] ??= { type: "object" };
    }
    at.type = "array";
  }
  const crd = minimalCrd(name);
  ((crd.spec as { versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }> }).versions[0].schema.openAPIV3Schema.properties).spec = spec;
  return crd;
}

/** The full CRDs of Argo >= 3.6 (with `mutexes`, `schedules`, `workflowTemplateRef`). */
export const FULL_CRDS = {
  "workflows.argoproj.io": fullCrd("workflows.argoproj.io", ["workflowTemplateRef", "name"], ["synchronization", "mutexes"]),
  "workflowtemplates.argoproj.io": fullCrd("workflowtemplates.argoproj.io", ["synchronization", "mutexes"]),
  "cronworkflows.argoproj.io": fullCrd("cronworkflows.argoproj.io", ["schedules"], ["workflowSpec", "synchronization", "mutexes"]),
};

/** A DeploymentList with the given (namespace, name, image) deployments. */
export function deploymentList(...deployments: Array<[string, string, string]>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "List",
    items: deployments.map(([namespace, name, image]) => ({
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, namespace },
      spec: { template: { spec: { containers: [{ name, image }] } } },
    })),
  };
}

/** The deployments of a cluster running Argo Workflows v3.6.5 in `argo`, and ingress-nginx. */
export const ARGO_DEPLOYMENTS = deploymentList(
  ["argo", "argo-server", "quay.io/argoproj/argocli:v3.6.5"],
  ["argo", "workflow-controller", "quay.io/argoproj/workflow-controller:v3.6.5"],
  ["ingress-nginx", "ingress-nginx-controller", "registry.k8s.io/ingress-nginx/controller:v1.12.1@sha256:" + "a".repeat(64)],
);

/** The platform's agent template as DESIGN.md describes it: whole-workflow, reads workflow parameters. */
export function agentTemplate(name = "coderun-template", reads: string[] = [], kind = "WorkflowTemplate"): Record<string, unknown> {
  const params = [
    "task-id", "service-id", "repository-url", "docs-repository-url", "docs-project-directory", "working-directory",
    "github-app", "model", "continue-session", "overwrite-memory", "docs-branch", "task-requirements", ...reads,
  ];
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind,
    metadata: { name, ...(kind === "WorkflowTemplate" ? { namespace: "argo" } : {}) },
    spec: {
      entrypoint: "coderun-main",
      arguments: { parameters: [{ name: "task-id" }, { name: "github-app" }, { name: "task-requirements", value: "" }] },
      templates: [{
        name: "coderun-main",
        resource: {
          action: "create",
          manifest: params.map((p) => `${p}: "{{workflow.parameters.${p}}}"`).join("\n"),
        },
      }],
    },
  };
}

/** An S3 (MinIO) artifact repository as a ConfigMap value. */
export const MINIO_REPOSITORY = [
  "s3:",
  "  bucket: my-bucket",
  "  endpoint: minio.argo.svc:9000",
  "  insecure: true",
  "  accessKeySecret: {name: my-minio-cred, key: accesskey}",
  "  secretKeySecret: {name: my-minio-cred, key: secretkey}",
  "",
].join("\n");

/** The artifact-repositories ConfigMap with the given data. */
export function artifactConfigMap(data: Record<string, string>, name = "artifact-repositories", namespace = "argo"): Record<string, unknown> {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data };
}

/** A GitHub App Secret as `kubectl get secret -o json` returns it (base64 `data`). */
export function appSecret(app: string, values: Record<string, string>, namespace = "argo"): Record<string, unknown> {
  return {
    apiVersion: "v1", kind: "Secret", type: "Opaque",
    metadata: { name: `github-app-${app}`, namespace },
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, b64(v)])),
  };
}

/** The values of a filled-in GitHub App Secret. */
export const FILLED_IN = (appId: string, installationId: string): Record<string, string> => ({ "app-id": appId, "installation-id": installationId, "private-key": RSA_KEY });

/** kubectl's answer for an object that does not exist. */
export const notFound = (resource: string, name: string): ToolReply => ({ stderr: `Error from server (NotFound): ${resource} "${name}" not found\n`, code: 1 });
/** kubectl's answer for a read the credentials may not make. */
export const forbidden = (resource: string, scope: string, user = "jane@example.com"): ToolReply => ({
  stderr: `Error from server (Forbidden): ${resource} is forbidden: User "${user}" cannot list resource "${resource.split(".")[0]}" in API group "${resource.split(".").slice(1).join(".")}" ${scope}\n`,
  code: 1,
});
const json = (o: unknown): ToolReply => ({ stdout: `${JSON.stringify(o, null, 2)}\n` });

/** A scripted cluster: each doctor call (`args` joined by spaces) and its answer. */
export type Script = Record<string, ToolReply>;

/** The reads of a cluster with every prerequisite of the default config (namespace argo), in the doctor's order. */
export function healthyCluster(): Script {
  return {
    "config current-context": { stdout: "kind-preview\n" },
    "version -o json": json(versionJson("1", "31", "v1.31.2")),
    "get namespace argo -o json": json({ apiVersion: "v1", kind: "Namespace", metadata: { name: "argo" }, status: { phase: "Active" } }),
    "get customresourcedefinition workflows.argoproj.io -o json": json(minimalCrd("workflows.argoproj.io")),
    "get customresourcedefinition workflowtemplates.argoproj.io -o json": json(minimalCrd("workflowtemplates.argoproj.io")),
    "get customresourcedefinition cronworkflows.argoproj.io -o json": json(minimalCrd("cronworkflows.argoproj.io")),
    "get deployments --all-namespaces -o json": json(ARGO_DEPLOYMENTS),
    "get workflowtemplates.argoproj.io coderun-template -n argo -o json": json(agentTemplate()),
    "get configmap artifact-repositories -n argo -o json": json(artifactConfigMap({ "default-v1": MINIO_REPOSITORY })),
    "get secret github-app-rex -n argo -o json": json(appSecret("rex", FILLED_IN("100001", "200001"))),
    "get secret github-app-clippy -n argo -o json": json(appSecret("clippy", FILLED_IN("100002", "200002"))),
    "get secret github-app-qa -n argo -o json": json(appSecret("qa", FILLED_IN("Iv23liAbCdEf", "200003"))),
    "get ingressclass nginx -o json": json({ apiVersion: "networking.k8s.io/v1", kind: "IngressClass", metadata: { name: "nginx" }, spec: { controller: "k8s.io/ingress-nginx" } }),
  };
}

/** The JSON answer of a script entry (for tests that change an object). */
export const reply = json;

/** The stand-in handler answering from a script; an unknown call exits 98 and says so. */
export function answer(script: Script): (call: ToolCall) => ToolReply {
  return (call) => script[call.args.join(" ")] ?? { stderr: `unexpected call: kubectl ${call.args.join(" ")}\n`, code: 98 };
}

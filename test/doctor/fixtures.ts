/**
 * The cluster `npm run doctor` checks, as objects seeded into the fake cluster (simulator/cluster.ts):
 * one with every prerequisite, and builders of the objects a test changes or takes away. The fake
 * answers the doctor's reads as the real kubectl does (a missing object is `Error from server
 * (NotFound): …` on stderr, exit 1) and refuses any call it does not know, so an unexpected (or
 * writing) call fails the test instead of getting a kind answer.
 */
import { generateKeyPairSync } from "node:crypto";
import { CODERUN_PARAMETERS } from "../../components/workflow/agents";
import { argoCrd, FakeCluster, type FakeNamespace, type KubeObj, type ServerVersion } from "../../simulator/cluster";
import { appKey } from "../../simulator/fake-github";

/** An RSA private key in GitHub's format (PKCS#1 PEM). */
export const RSA_KEY = appKey("rex").privateKeyPem;
/** An EC private key (not what GitHub issues). */
export const EC_KEY = generateKeyPairSync("ec", { namedCurve: "prime256v1" }).privateKey.export({ type: "sec1", format: "pem" }).toString();

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64");

/** The server's part of `kubectl version -o json` for a server of the given version. */
export function serverVersion(major: string, minor: string, gitVersion: string): ServerVersion {
  return { major, minor, gitVersion, platform: "linux/amd64" };
}

/** What `kubectl version -o json` prints for a server of the given version. */
export function versionJson(major: string, minor: string, gitVersion: string): Record<string, unknown> {
  return {
    clientVersion: { major: "1", minor: "35", gitVersion: "v1.35.0", platform: "linux/amd64" },
    kustomizeVersion: "v5.7.1",
    serverVersion: serverVersion(major, minor, gitVersion),
  };
}

/** An Argo CRD with a full schema whose `spec` has the given properties (each a nested path). */
export function fullCrd(name: string, ...paths: string[][]): KubeObj {
  const spec: Record<string, unknown> = { type: "object", properties: { entrypoint: { type: "string" } } };
  for (const p of paths) {
    let at = spec;
    for (const key of p) {
      const props = (at.properties ??= {}) as Record<string, Record<string, unknown>>;
      at = props[key] ??= { type: "object" };
    }
    at.type = "array";
  }
  const crd = argoCrd(name);
  ((crd.spec as { versions: Array<{ schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }> }).versions[0].schema.openAPIV3Schema.properties).spec = spec;
  return crd;
}

/** The full CRDs of Argo >= 3.6 (with `mutexes`, `schedules`, `workflowTemplateRef`). */
export const FULL_CRDS = {
  "workflows.argoproj.io": fullCrd("workflows.argoproj.io", ["workflowTemplateRef", "name"], ["synchronization", "mutexes"]),
  "workflowtemplates.argoproj.io": fullCrd("workflowtemplates.argoproj.io", ["synchronization", "mutexes"]),
  "cronworkflows.argoproj.io": fullCrd("cronworkflows.argoproj.io", ["schedules"], ["workflowSpec", "synchronization", "mutexes"]),
};

/** A Deployment `namespace/name` running one container of `image`. */
export function deployment(namespace: string, name: string, image: string): KubeObj {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace },
    spec: { template: { spec: { containers: [{ name, image }] } } },
  };
}

/** A DeploymentList with the given (namespace, name, image) deployments. */
export function deploymentList(...deployments: Array<[string, string, string]>): { apiVersion: string; kind: "List"; items: KubeObj[] } {
  return { apiVersion: "v1", kind: "List", items: deployments.map(([namespace, name, image]) => deployment(namespace, name, image)) };
}

/** The deployments of a cluster running Argo Workflows v3.6.5 in `argo`, and ingress-nginx. */
export const ARGO_DEPLOYMENTS = deploymentList(
  ["argo", "argo-server", "quay.io/argoproj/argocli:v3.6.5"],
  ["argo", "workflow-controller", "quay.io/argoproj/workflow-controller:v3.6.5"],
  ["ingress-nginx", "ingress-nginx-controller", "registry.k8s.io/ingress-nginx/controller:v1.12.1@sha256:" + "a".repeat(64)],
);

/**
 * The platform's agent template as DESIGN.md describes it: whole-workflow, reads every workflow
 * parameter the pipeline gives its agents, and `reads` besides.
 */
export function agentTemplate(name = "coderun-template", reads: string[] = [], kind = "WorkflowTemplate", namespace = "argo"): KubeObj {
  const params = [...CODERUN_PARAMETERS, ...reads];
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind,
    metadata: { name, ...(kind === "WorkflowTemplate" ? { namespace } : {}) },
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
export function artifactConfigMap(data: Record<string, string>, name = "artifact-repositories", namespace = "argo"): KubeObj {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data };
}

/** A GitHub App Secret as `kubectl get secret -o json` returns it (base64 `data`). */
export function appSecret(app: string, values: Record<string, string>, namespace = "argo"): KubeObj {
  return {
    apiVersion: "v1", kind: "Secret", type: "Opaque",
    metadata: { name: `github-app-${app}`, namespace },
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, b64(v)])),
  };
}

/** The values of a filled-in GitHub App Secret. */
export const FILLED_IN = (appId: string, installationId: string): Record<string, string> => ({ "app-id": appId, "installation-id": installationId, "private-key": RSA_KEY });

/** A namespace as the API server returns it. */
export function namespace(name: string): FakeNamespace {
  return {
    apiVersion: "v1", kind: "Namespace",
    metadata: { name, creationTimestamp: "2026-01-05T09:00:00Z", labels: { "kubernetes.io/metadata.name": name } },
    spec: { finalizers: ["kubernetes"] },
    status: { phase: "Active" },
  };
}

/** The IngressClass `name` of ingress-nginx. */
export function ingressClass(name = "nginx"): KubeObj {
  return { apiVersion: "networking.k8s.io/v1", kind: "IngressClass", metadata: { name }, spec: { controller: "k8s.io/ingress-nginx" } };
}

/**
 * A fake cluster with every prerequisite of the default config, `workflows` being the workflows
 * namespace: kube context `kind-preview`, Kubernetes v1.31.2, Argo Workflows v3.6.5 with its default
 * install's minimal CRDs (a fresh fake cluster has them, {@link argoCrd}), ingress-nginx, the agent
 * template, an S3 artifact repository, the three GitHub App Secrets filled in, and the IngressClass
 * nginx.
 */
export function healthyCluster(workflows = "argo"): FakeCluster {
  const cluster = new FakeCluster([namespace(workflows), namespace("ingress-nginx")]);
  cluster.context = "kind-preview";
  cluster.seed(
    ...ARGO_DEPLOYMENTS.items.map((d) => (d.metadata.namespace === "argo" ? { ...d, metadata: { ...d.metadata, namespace: workflows } } : d)),
    agentTemplate("coderun-template", [], "WorkflowTemplate", workflows),
    artifactConfigMap({ "default-v1": MINIO_REPOSITORY }, "artifact-repositories", workflows),
    appSecret("rex", FILLED_IN("100001", "200001"), workflows),
    appSecret("clippy", FILLED_IN("100002", "200002"), workflows),
    appSecret("qa", FILLED_IN("Iv23liAbCdEf", "200003"), workflows),
    ingressClass(),
  );
  return cluster;
}

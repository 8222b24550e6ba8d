/**
 * `npm run doctor`: each check as a pure function with fixed inputs and exact outputs, then the
 * whole program against the fake cluster (simulator/cluster.ts) seeded with the doctor's
 * prerequisites (in this process, and through the recording `kubectl` stand-in first on PATH),
 * asserting every kubectl call made (reads only, each one the fake understands), the lines and the
 * exit code.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runScript } from "../helpers/cli";
import { CODERUN_PARAMETERS } from "../../components/workflow/agents";
import {
  checkAgentTemplate,
  checkArgoCrds,
  checkArgoVersion,
  checkArtifactRepository,
  checkGitHubAppSecret,
  checkIngressClass,
  checkKubernetesVersion,
  checkNamespace,
  main,
  parseArgs,
  parseImage,
  privateKeyProblem,
  readStackConfigForDoctor,
  systemKubectl,
  type Kubectl,
  toRead,
  workflowParameterReads,
  type CheckResult,
  type Read,
} from "../../scripts/doctor";
import { PROJECT_ROOT } from "../../scripts/offline-render";
import { ARGO_CRD_NAMES, argoCrd, type ClusterFaults, type FakeCluster } from "../../simulator/cluster";
import { startStandIns, type StandIns } from "../../simulator/stand-ins";
import {
  agentTemplate, appSecret, ARGO_DEPLOYMENTS, artifactConfigMap, deployment, deploymentList, EC_KEY, FILLED_IN, FULL_CRDS,
  fullCrd, healthyCluster, MINIO_REPOSITORY, RSA_KEY, serverVersion, versionJson,
} from "./fixtures";

const found = (object: unknown): Read => ({ found: true, object });
const missing = (error: string): Read => ({ found: false, error, notFound: true });
const GIVEN = CODERUN_PARAMETERS;
const REF = { name: "coderun-template", clusterScope: false, namespace: "argo" };
const REPO = { configMap: "artifact-repositories", key: "default-v1", storage: "s3" as const, namespace: "argo" };

describe("checkKubernetesVersion", () => {
  it("passes a 1.31 server and shows its gitVersion", () => {
    expect(checkKubernetesVersion(versionJson("1", "31", "v1.31.2"))).toEqual({ check: "kubernetes", ok: true, detail: "server v1.31.2 (>= 1.30)", fix: null });
  });

  it("passes exactly 1.30, a managed cluster's minor with a '+', and a 2.x server", () => {
    expect(checkKubernetesVersion(versionJson("1", "30", "v1.30.0")).ok).toBe(true);
    expect(checkKubernetesVersion(versionJson("1", "32+", "v1.32.3-eks-4096722")).detail).toBe("server v1.32.3-eks-4096722 (>= 1.30)");
    expect(checkKubernetesVersion(versionJson("2", "0", "v2.0.0")).ok).toBe(true);
  });

  it("fails a 1.29 server, a '+' minor included, naming ValidatingAdmissionPolicy v1", () => {
    expect(checkKubernetesVersion(versionJson("1", "29+", "v1.29.10-gke.1"))).toEqual({
      check: "kubernetes",
      ok: false,
      detail: "server v1.29.10-gke.1 is older than 1.30: the stack's admission policy is a ValidatingAdmissionPolicy v1 (GA in 1.30)",
      fix: "upgrade the cluster to Kubernetes 1.30 or later",
    });
  });

  it("reads the version from gitVersion when major and minor are empty", () => {
    expect(checkKubernetesVersion(versionJson("", "", "v1.28.4")).ok).toBe(false);
    expect(checkKubernetesVersion(versionJson("", "", "v1.33.1")).ok).toBe(true);
  });

  it("fails with kubectl's error when only the client version came back", () => {
    expect(checkKubernetesVersion({ clientVersion: { major: "1", minor: "35" } }, "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n")).toEqual({
      check: "kubernetes",
      ok: false,
      detail: "kubectl got no server version: The connection to the server localhost:8080 was refused - did you specify the right host or port?",
      fix: "point kubectl at the cluster (kubectl config use-context NAME) and make sure it can reach the API server",
    });
  });
});

describe("checkNamespace", () => {
  it("passes an Active namespace", () => {
    expect(checkNamespace(found({ metadata: { name: "argo" }, status: { phase: "Active" } }), "argo")).toEqual({ check: "namespace", ok: true, detail: "namespace argo is Active", fix: null });
  });

  it("fails a missing namespace, telling how to create it or configure another", () => {
    expect(checkNamespace(missing('Error from server (NotFound): namespaces "argo" not found'), "argo")).toEqual({
      check: "namespace",
      ok: false,
      detail: "namespace argo does not exist",
      fix: "install Argo Workflows into argo (or create it: kubectl create namespace argo), or set the config key namespace to the one it runs in",
    });
  });

  it("fails a Terminating namespace", () => {
    expect(checkNamespace(found({ status: { phase: "Terminating" } }), "argo").detail).toBe("namespace argo is Terminating");
  });
});

describe("checkArgoCrds", () => {
  const minimal = {
    "workflows.argoproj.io": found(argoCrd("workflows.argoproj.io")),
    "workflowtemplates.argoproj.io": found(argoCrd("workflowtemplates.argoproj.io")),
    "cronworkflows.argoproj.io": found(argoCrd("cronworkflows.argoproj.io")),
  };

  it("passes the default install's minimal CRDs, saying their fields were not checked", () => {
    expect(checkArgoCrds(minimal)).toEqual({
      check: "argo-crds",
      ok: true,
      detail: "workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io exist (minimal schema, fields not checked: workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io)",
      fix: null,
    });
  });

  it("passes full CRDs that have workflowTemplateRef, synchronization.mutexes and schedules", () => {
    const full = Object.fromEntries(Object.entries(FULL_CRDS).map(([k, v]) => [k, found(v)])) as typeof minimal;
    expect(checkArgoCrds(full).detail).toBe(
      "workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io exist (full schema with the fields the stack uses: workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io)",
    );
  });

  it("fails full CRDs of an Argo before 3.6 (singular mutex and schedule)", () => {
    const old = {
      ...minimal,
      "workflowtemplates.argoproj.io": found(fullCrd("workflowtemplates.argoproj.io", ["synchronization", "mutex"])),
      "cronworkflows.argoproj.io": found(fullCrd("cronworkflows.argoproj.io", ["schedule"])),
    };
    expect(checkArgoCrds(old)).toEqual({
      check: "argo-crds",
      ok: false,
      detail: "workflowtemplates.argoproj.io has no spec.synchronization.mutexes (the per-PR mutex); cronworkflows.argoproj.io has no spec.schedules (the TTL sweeper)",
      fix: "install or upgrade Argo Workflows to 3.6 or later (its CRDs included: the full CRDs with kubectl apply --server-side)",
    });
  });

  it("fails a missing CRD by name", () => {
    const result = checkArgoCrds({ ...minimal, "cronworkflows.argoproj.io": missing('Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "cronworkflows.argoproj.io" not found') });
    expect(result.ok).toBe(false);
    expect(result.detail).toBe("missing CRD cronworkflows.argoproj.io");
  });

  it("fails, asking for other credentials, when the CRDs cannot be read", () => {
    const denied: Read = { found: false, error: "Error from server (Forbidden): …", notFound: false };
    expect(checkArgoCrds({ ...minimal, "workflows.argoproj.io": denied })).toEqual({
      check: "argo-crds",
      ok: false,
      detail: "cannot read CRD workflows.argoproj.io (Error from server (Forbidden): …)",
      fix: "run the doctor with credentials that may get customresourcedefinitions",
    });
  });
});

describe("parseImage", () => {
  it("splits registry ports, tags and digests correctly", () => {
    expect(parseImage("quay.io/argoproj/workflow-controller:v3.6.5")).toEqual({ repository: "quay.io/argoproj/workflow-controller", tag: "v3.6.5" });
    expect(parseImage("registry.local:5000/argo/workflow-controller")).toEqual({ repository: "registry.local:5000/argo/workflow-controller", tag: "" });
    expect(parseImage(`argoproj/workflow-controller:v4.0.1@sha256:${"b".repeat(64)}`)).toEqual({ repository: "argoproj/workflow-controller", tag: "v4.0.1" });
  });
});

describe("checkArgoVersion", () => {
  it("passes a v3.6.5 controller, naming its Deployment", () => {
    expect(checkArgoVersion(ARGO_DEPLOYMENTS)).toEqual({ check: "argo-version", ok: true, detail: "workflow controller argo/workflow-controller v3.6.5 (>= 3.6)", fix: null });
  });

  it("passes a v4 controller from a mirror registry", () => {
    expect(checkArgoVersion(deploymentList(["workflows", "argo-workflows-workflow-controller", "mirror.corp:5000/argoproj/workflow-controller:v4.0.2"])).detail).toBe(
      "workflow controller workflows/argo-workflows-workflow-controller v4.0.2 (>= 3.6)",
    );
  });

  it("fails a v3.5 controller, naming the fields 3.6 brought", () => {
    expect(checkArgoVersion(deploymentList(["argo", "workflow-controller", "quay.io/argoproj/workflow-controller:v3.5.13"]))).toEqual({
      check: "argo-version",
      ok: false,
      detail: "argo/workflow-controller runs v3.5.13, older than 3.6: the stack uses synchronization.mutexes and a CronWorkflow's schedules (3.6 and later)",
      fix: "upgrade Argo Workflows to 3.6 or later",
    });
  });

  it("fails, saying the version cannot be determined, for a latest tag", () => {
    expect(checkArgoVersion(deploymentList(["argo", "workflow-controller", "quay.io/argoproj/workflow-controller:latest"]))).toEqual({
      check: "argo-version",
      ok: false,
      detail: "cannot determine the Argo Workflows version: argo/workflow-controller runs quay.io/argoproj/workflow-controller:latest, whose tag is no version",
      fix: "pin the controller image to a release tag (v3.6.0 or later), or check by hand that the workflow controller is Argo Workflows 3.6 or later (argo version)",
    });
  });

  it("fails, saying the version cannot be determined, when no Deployment runs the controller", () => {
    const result = checkArgoVersion(deploymentList(["argo", "argo-server", "quay.io/argoproj/argocli:v3.6.5"]));
    expect(result.ok).toBe(false);
    expect(result.detail).toBe("cannot determine the Argo Workflows version: no Deployment runs a …/workflow-controller image");
  });

  it("says where it looked when it could list only the workflows namespace", () => {
    expect(checkArgoVersion(deploymentList(), "", "argo").detail).toBe(
      "cannot determine the Argo Workflows version: no Deployment in argo (listing every namespace is not allowed) runs a …/workflow-controller image",
    );
  });

  it("fails with kubectl's error when the deployments cannot be listed", () => {
    expect(checkArgoVersion(undefined, "Error from server (Forbidden): deployments.apps is forbidden: …\n").detail).toBe(
      "cannot determine the Argo Workflows version: cannot list deployments: Error from server (Forbidden): deployments.apps is forbidden: …",
    );
  });
});

describe("workflowParameterReads", () => {
  it("finds simple tags anywhere, script sources and keys included, sorted and once each", () => {
    const spec = {
      templates: [
        { name: "a", script: { source: "echo {{workflow.parameters.task-id}}\nrun --model {{ workflow.parameters.model }}" } },
        { name: "b", container: { args: ["{{workflow.parameters.task-id}}", "{{inputs.parameters.x}}"] } },
      ],
      "{{workflow.parameters.odd-key}}": true,
    };
    expect(workflowParameterReads(spec)).toEqual(["model", "odd-key", "task-id"]);
  });

  it("finds expression tags in dotted and bracketed form", () => {
    expect(workflowParameterReads(`{{=workflow.parameters.retries + 1}} {{= workflow.parameters['github-app'] == "rex" ? "a" : workflow.parameters["docs-branch"] }}`)).toEqual([
      "docs-branch", "github-app", "retries",
    ]);
  });

  it("ignores other variables and Argo's workflow.parameters.json", () => {
    expect(workflowParameterReads("{{workflow.name}} {{workflow.parameters.json}} {{inputs.parameters.pr}} {{workflow.parameters}}")).toEqual([]);
  });
});

describe("checkAgentTemplate", () => {
  it("passes the platform's template: entrypoint present, every read given by the pipeline", () => {
    expect(checkAgentTemplate(found(agentTemplate()), GIVEN, REF)).toEqual({
      check: "agent-template",
      ok: true,
      detail: "WorkflowTemplate argo/coderun-template: entrypoint coderun-main, reads 12 workflow parameters, all given by the pipeline",
      fix: null,
    });
  });

  it("passes a template that reads a parameter it defaults itself", () => {
    const t = agentTemplate("coderun-template", ["max-turns"]);
    (t.spec as { arguments: { parameters: unknown[] } }).arguments.parameters.push({ name: "max-turns", value: "50" });
    expect(checkAgentTemplate(found(t), GIVEN, REF).detail).toBe(
      "WorkflowTemplate argo/coderun-template: entrypoint coderun-main, reads 13 workflow parameters, 12 given by the pipeline, max-turns defaulted by the template",
    );
  });

  it("fails a template that reads parameters the pipeline does not give, listing each", () => {
    expect(checkAgentTemplate(found(agentTemplate("coderun-template", ["foo", "bar"])), GIVEN, REF)).toEqual({
      check: "agent-template",
      ok: false,
      detail: `coderun-template reads workflow.parameters.bar, workflow.parameters.foo, which the pipeline does not give (it gives ${GIVEN.join(", ")}) and the template does not default`,
      fix: "give each a default in the template's spec.arguments.parameters, or stop reading it (Argo refuses to submit a Workflow that references an unknown workflow parameter)",
    });
  });

  it("fails a read inside a script source too", () => {
    const t = agentTemplate();
    (t.spec as { templates: unknown[] }).templates.push({ name: "helper", script: { image: "alpine:3.20", source: "echo {{workflow.parameters.secret-sauce}}" } });
    expect(checkAgentTemplate(found(t), GIVEN, REF).detail).toMatch(/^coderun-template reads workflow\.parameters\.secret-sauce, which the pipeline does not give/);
  });

  it("fails a declared parameter without a value that the pipeline does not give", () => {
    const t = agentTemplate();
    (t.spec as { arguments: { parameters: unknown[] } }).arguments.parameters.push({ name: "ticket" });
    expect(checkAgentTemplate(found(t), GIVEN, REF).detail).toBe("coderun-template declares workflow parameter ticket without a value, which the pipeline does not give");
  });

  it("fails a missing entrypoint, and an entrypoint naming no template", () => {
    const none = agentTemplate();
    delete (none.spec as { entrypoint?: string }).entrypoint;
    expect(checkAgentTemplate(found(none), GIVEN, REF)).toEqual({
      check: "agent-template",
      ok: false,
      detail: "coderun-template has no entrypoint (spec.entrypoint)",
      fix: "set spec.entrypoint to the template the agent runs: the child Workflow names only the template, so Argo runs its entrypoint (Argo refuses to submit a Workflow that references an unknown workflow parameter)",
    });
    const wrong = agentTemplate();
    (wrong.spec as { entrypoint: string }).entrypoint = "main";
    expect(checkAgentTemplate(found(wrong), GIVEN, REF).detail).toBe("coderun-template's entrypoint main names none of its templates");
  });

  it("fails an entrypoint that needs an input nobody gives", () => {
    const t = agentTemplate();
    (t.spec as { templates: Array<Record<string, unknown>> }).templates[0].inputs = { parameters: [{ name: "github-app" }, { name: "pr" }, { name: "x", value: "1" }] };
    expect(checkAgentTemplate(found(t), GIVEN, REF).detail).toBe("coderun-template's entrypoint coderun-main needs input pr, which the pipeline does not give");
  });

  it("fails a missing template, naming a ClusterWorkflowTemplate without a namespace", () => {
    expect(checkAgentTemplate(missing("Error from server (NotFound): …"), GIVEN, { ...REF, clusterScope: true })).toEqual({
      check: "agent-template",
      ok: false,
      detail: "ClusterWorkflowTemplate coderun-template not found",
      fix: "install the platform's agent template, or set agent.templateName (and agent.clusterScope) to the template the agents run",
    });
  });
});

describe("checkAgentTemplate without Argo", () => {
  it("tells to install Argo when the cluster knows no WorkflowTemplate resource type", () => {
    expect(checkAgentTemplate({ found: false, error: 'error: the server doesn\'t have a resource type "workflowtemplates"', notFound: false }, GIVEN, REF)).toEqual({
      check: "agent-template",
      ok: false,
      detail: 'cannot read WorkflowTemplate argo/coderun-template: error: the server doesn\'t have a resource type "workflowtemplates"',
      fix: "install Argo Workflows 3.6 or later (the cluster knows no WorkflowTemplate), then the platform's agent template",
    });
  });
});

describe("checkArtifactRepository", () => {
  it("passes an S3 (MinIO) repository with bucket and endpoint", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": MINIO_REPOSITORY })), REPO)).toEqual({
      check: "artifact-repository",
      ok: true,
      detail: "ConfigMap argo/artifact-repositories key default-v1: s3 bucket my-bucket at minio.argo.svc:9000",
      fix: null,
    });
  });

  it("fails a missing ConfigMap, pointing at the README's example", () => {
    expect(checkArtifactRepository(missing('Error from server (NotFound): configmaps "artifact-repositories" not found'), REPO)).toEqual({
      check: "artifact-repository",
      ok: false,
      detail: "ConfigMap argo/artifact-repositories not found",
      fix: "create ConfigMap argo/artifact-repositories with key default-v1 holding an s3 artifact repository (README: Prerequisites), or set artifactRepository.configMap/key to the one the platform provides",
    });
  });

  it("fails a ConfigMap without the key, listing the keys it has", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "v2-s3": MINIO_REPOSITORY })), REPO).detail).toBe("ConfigMap argo/artifact-repositories has no key default-v1 (it has v2-s3)");
  });

  it("fails a repository of another kind than configured, telling to fix storage", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": "archiveLogs: true\ngcs:\n  bucket: b\n" })), REPO)).toEqual({
      check: "artifact-repository",
      ok: false,
      detail: "ConfigMap argo/artifact-repositories key default-v1 is not an s3 repository (it has gcs)",
      fix: "set artifactRepository.storage to the repository's kind, or point artifactRepository.key at an s3 repository",
    });
  });

  it("fails an s3 repository without an endpoint, which Argo cannot place a key-only artifact in", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": "s3:\n  bucket: b\n" })), REPO).detail).toBe(
      "ConfigMap argo/artifact-repositories key default-v1: the s3 repository has no endpoint",
    );
  });

  it("passes gcs with only a bucket, and storage none with only the key", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": "gcs:\n  bucket: ci-artifacts\n" })), { ...REPO, storage: "gcs" }).detail).toBe(
      "ConfigMap argo/artifact-repositories key default-v1: gcs bucket ci-artifacts",
    );
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": "azure: {container: c}\n" })), { ...REPO, storage: "none" })).toEqual({
      check: "artifact-repository",
      ok: true,
      detail: "ConfigMap argo/artifact-repositories key default-v1 exists (storage none: its kind is not checked)",
      fix: null,
    });
  });

  it("fails a value that is not YAML", () => {
    expect(checkArtifactRepository(found(artifactConfigMap({ "default-v1": "s3: [unclosed" })), REPO).detail).toMatch(/^ConfigMap argo\/artifact-repositories key default-v1 is not YAML: /);
  });
});

describe("privateKeyProblem", () => {
  it("accepts GitHub's PKCS#1 RSA key and a PKCS#8 one", async () => {
    expect(privateKeyProblem(RSA_KEY)).toBeNull();
    const { createPrivateKey } = await import("node:crypto");
    expect(privateKeyProblem(createPrivateKey(RSA_KEY).export({ type: "pkcs8", format: "pem" }).toString())).toBeNull();
  });

  it("refuses an encrypted key, which the steps cannot sign with", async () => {
    const { createPrivateKey } = await import("node:crypto");
    const encrypted = createPrivateKey(RSA_KEY).export({ type: "pkcs8", format: "pem", cipher: "aes-256-cbc", passphrase: "pw" }).toString();
    expect(privateKeyProblem(encrypted)).toBe("is encrypted, and the steps sign with it as it is");
  });

  it("refuses a non-RSA key, a truncated key and a public key", async () => {
    expect(privateKeyProblem(EC_KEY)).toBe("is not RSA (it is ec), and a GitHub App's key is RSA (its JWT is RS256)");
    expect(privateKeyProblem(RSA_KEY.slice(0, 200))).toBe("is not a readable PEM private key");
    const { createPublicKey } = await import("node:crypto");
    expect(privateKeyProblem(createPublicKey(RSA_KEY).export({ type: "spki", format: "pem" }).toString())).toBe("is not a PEM private key");
  });
});

describe("checkGitHubAppSecret", () => {
  const fix =
    "run pulumi up with github.apps.rex.appId/installationId in config and the key in secret config rexPrivateKey, " +
    "or fill it in: kubectl create secret generic github-app-rex -n argo --from-literal=app-id=ID --from-literal=installation-id=ID --from-file=private-key=rex.private-key.pem";

  it("passes a filled-in Secret (numeric app id, or a client id)", () => {
    expect(checkGitHubAppSecret(found(appSecret("rex", FILLED_IN("100001", "200001"))), "rex", "argo")).toEqual({
      check: "github-app-rex",
      ok: true,
      detail: "Secret argo/github-app-rex: app-id, installation-id and an RSA private-key filled in",
      fix: null,
    });
    expect(checkGitHubAppSecret(found(appSecret("rex", FILLED_IN("Iv23liAbCdEf", "200001"))), "rex", "argo").ok).toBe(true);
  });

  it("fails the plain manifests applied as they are: every value the placeholder [secret]", () => {
    const placeholders = { "app-id": "[secret]", "installation-id": "[secret]", "private-key": "[secret]" };
    expect(checkGitHubAppSecret(found(appSecret("rex", placeholders)), "rex", "argo")).toEqual({
      check: "github-app-rex",
      ok: false,
      detail: "Secret argo/github-app-rex: app-id is the placeholder [secret]; installation-id is the placeholder [secret]; private-key is the placeholder [secret]",
      fix,
    });
  });

  it("fails empty, missing and malformed values, never printing a value", () => {
    const result = checkGitHubAppSecret(found(appSecret("rex", { "app-id": "app 1", "installation-id": " ", "private-key": EC_KEY })), "rex", "argo");
    expect(result.detail).toBe(
      "Secret argo/github-app-rex: app-id is not a numeric app id or a client id; installation-id is empty; private-key is not RSA (it is ec), and a GitHub App's key is RSA (its JWT is RS256)",
    );
    expect(JSON.stringify(result)).not.toContain("app 1");
    expect(checkGitHubAppSecret(found(appSecret("rex", { "app-id": "1", "private-key": "hunter2" })), "rex", "argo").detail).toBe(
      "Secret argo/github-app-rex: installation-id is missing; private-key is not a PEM private key",
    );
  });

  it("passes an empty installation-id: each repository's installation is then looked up from the App", () => {
    const result = checkGitHubAppSecret(found(appSecret("rex", { "app-id": "100001", "installation-id": "", "private-key": RSA_KEY })), "rex", "argo");
    expect(result).toMatchObject({ ok: true, detail: "Secret argo/github-app-rex: app-id, installation-id empty (each repository's looked up from the App) and an RSA private-key filled in" });
  });

  it("fails an id with a trailing newline, as a Secret made from a file gets", () => {
    expect(checkGitHubAppSecret(found(appSecret("rex", FILLED_IN("100001\n", "200001"))), "rex", "argo").detail).toBe(
      "Secret argo/github-app-rex: app-id has white space around it (a newline from a file?)",
    );
  });

  it("fails a missing Secret with the command that fills it in", () => {
    expect(checkGitHubAppSecret(missing('Error from server (NotFound): secrets "github-app-rex" not found'), "rex", "argo")).toEqual({
      check: "github-app-rex",
      ok: false,
      detail: "Secret argo/github-app-rex not found",
      fix,
    });
  });
});

describe("checkIngressClass", () => {
  it("passes an existing class, naming its controller", () => {
    expect(checkIngressClass(found({ spec: { controller: "k8s.io/ingress-nginx" } }), "nginx")).toEqual({ check: "ingress-class", ok: true, detail: "IngressClass nginx (controller k8s.io/ingress-nginx)", fix: null });
  });

  it("fails a missing class, telling how to list the cluster's", () => {
    expect(checkIngressClass(missing('Error from server (NotFound): ingressclasses.networking.k8s.io "nginx" not found'), "nginx")).toEqual({
      check: "ingress-class",
      ok: false,
      detail: "IngressClass nginx not found",
      fix: "install the ingress controller that serves the previews, or set deploy.ingressClass to one of the cluster's classes (kubectl get ingressclass)",
    });
  });
});

describe("toRead", () => {
  it("tells kubectl's NotFound from other errors, keeping the first line", () => {
    expect(toRead({ code: 1, stdout: "", stderr: 'Error from server (NotFound): secrets "x" not found\n' })).toEqual({ found: false, error: 'Error from server (NotFound): secrets "x" not found', notFound: true });
    expect(toRead({ code: 1, stdout: "", stderr: 'error: the server doesn\'t have a resource type "workflowtemplates"\n' })).toEqual({
      found: false, error: 'error: the server doesn\'t have a resource type "workflowtemplates"', notFound: false,
    });
    expect(toRead({ code: 0, stdout: '{"a":1}', stderr: "" })).toEqual({ found: true, object: { a: 1 } });
  });
});

describe("parseArgs", () => {
  it("defaults to the preview stack and text output", () => {
    expect(parseArgs([])).toEqual({ stack: "preview", json: false, help: false });
    expect(parseArgs(["--stack", "prod", "--json"])).toEqual({ stack: "prod", json: true, help: false });
    expect(parseArgs(["--stack=staging"]).stack).toBe("staging");
  });

  it("refuses a missing or path-like stack name and unknown arguments, naming them", () => {
    expect(() => parseArgs(["--stack"])).toThrow("--stack needs a stack name");
    expect(() => parseArgs(["--stack", "--json"])).toThrow("--stack needs a stack name");
    expect(() => parseArgs(["--stack", "../etc"])).toThrow('--stack "../etc" is not a stack name');
    expect(() => parseArgs(["--verbose"])).toThrow('unknown argument "--verbose"');
  });
});

describe("readStackConfigForDoctor", () => {
  it("skips encrypted values, which a real stack holds its private keys in", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "doctor-config-"));
    writeFileSync(path.join(dir, "Pulumi.real.yaml"), "config:\n  implementation-dag:namespace: workflows\n  implementation-dag:rexPrivateKey:\n    secure: AAABAxyz\n  implementation-dag:deploy:\n    ingressClass: traefik\n");
    expect(readStackConfigForDoctor(dir, "real")).toEqual({ "implementation-dag:namespace": "workflows", "implementation-dag:deploy": '{"ingressClass":"traefik"}' });
  });
});

// ---------------------------------------------------------------------------------------------
// The whole program against the fake cluster.
// ---------------------------------------------------------------------------------------------

const GITHUB_CONFIG = [
  "  implementation-dag:github:",
  "    apps:",
  "      rex: {appId: \"100001\", installationId: \"200001\"}",
  "      clippy: {appId: \"100002\", installationId: \"200002\"}",
  "      qa: {appId: \"100003\", installationId: \"200003\"}",
];

/** A project directory with `Pulumi.test.yaml`: the GitHub ids, every other key its default, plus `extra` lines. */
function projectWith(extra: string[] = []): string {
  const dir = mkdtempSync(path.join(tmpdir(), "doctor-project-"));
  writeFileSync(path.join(dir, "Pulumi.test.yaml"), ["config:", ...GITHUB_CONFIG, ...extra, ""].join("\n"));
  return dir;
}

/** Every call the doctor makes against a healthy default cluster, in order. */
const HEALTHY_CALLS = [
  "kubectl config current-context",
  "kubectl version -o json",
  "kubectl get namespace argo -o json",
  "kubectl get customresourcedefinition workflows.argoproj.io -o json",
  "kubectl get customresourcedefinition workflowtemplates.argoproj.io -o json",
  "kubectl get customresourcedefinition cronworkflows.argoproj.io -o json",
  "kubectl get deployments --all-namespaces -o json",
  "kubectl get workflowtemplates.argoproj.io coderun-template -n argo -o json",
  "kubectl get configmap artifact-repositories -n argo -o json",
  "kubectl get secret github-app-rex -n argo -o json",
  "kubectl get secret github-app-clippy -n argo -o json",
  "kubectl get secret github-app-qa -n argo -o json",
  "kubectl get ingressclass nginx -o json",
];
/** The argv verbs a read-only doctor may use. */
const READS = new Set(["config current-context", "version", "get"]);

let standIns: StandIns | undefined;
afterEach(async () => {
  await standIns?.close();
  standIns = undefined;
});

/**
 * Runs the doctor's `main` in this process with a kubectl answered by the fake `cluster`. `main` sees
 * kubectl only through the {@link Kubectl} function, so this is what a process would give it; the
 * real child process (`systemKubectl`: argv, exit codes, a missing kubectl) is what the
 * "scripts/doctor.ts as npm runs it" tests below run, against the stand-in kubectl.
 */
async function doctor(cluster: FakeCluster, argv: string[] = ["--stack", "test"], project = projectWith()) {
  const argvs: string[][] = [];
  const kubectl: Kubectl = async (args) => {
    argvs.push([...args]);
    const reply = await cluster.handle({ tool: "kubectl", args: [...args], stdin: "", cwd: project, env: {} });
    return { code: reply.code ?? 0, stdout: reply.stdout ?? "", stderr: reply.stderr ?? "" };
  };
  let stdout = "";
  let stderr = "";
  const code = await main(argv, { projectRoot: project, kubectl, stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  const calls = argvs.map((args) => ["kubectl", ...args].join(" "));
  for (const args of argvs) expect(READS.has(args[0] === "config" ? args.slice(0, 2).join(" ") : args[0]), `kubectl ${args.join(" ")} is no read`).toBe(true);
  expect(cluster.unknown, "calls the fake cluster did not understand").toEqual([]);
  expect(cluster.events, "changes to the cluster").toEqual([]);
  return { code, stdout, stderr, calls };
}

/** The failed results of a `--json` run. */
async function failures(cluster: FakeCluster, extra: string[] = []): Promise<{ code: number; failed: CheckResult[]; calls: string[] }> {
  const r = await doctor(cluster, ["--stack", "test", "--json"], projectWith(extra));
  const results = JSON.parse(r.stdout) as CheckResult[];
  return { code: r.code, failed: results.filter((x) => !x.ok), calls: r.calls };
}

/** RBAC that refuses `jane@example.com` the reads `denies` names. */
const refusing = (denies: NonNullable<ClusterFaults["forbidden"]>["denies"]): ClusterFaults => ({ forbidden: { user: "jane@example.com", denies } });

describe("npm run doctor against the fake cluster", () => {
  it("passes a cluster with every prerequisite: exit 0, one read per prerequisite, a PASS line each", async () => {
    const r = await doctor(healthyCluster());
    expect(r.calls).toEqual(HEALTHY_CALLS);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(
      [
        "Checking kube context kind-preview for stack test",
        "PASS  kubernetes  server v1.31.2 (>= 1.30)",
        "PASS  namespace  namespace argo is Active",
        "PASS  argo-crds  workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io exist (minimal schema, fields not checked: workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io)",
        "PASS  argo-version  workflow controller argo/workflow-controller v3.6.5 (>= 3.6)",
        "PASS  agent-template  WorkflowTemplate argo/coderun-template: entrypoint coderun-main, reads 12 workflow parameters, all given by the pipeline",
        "PASS  artifact-repository  ConfigMap argo/artifact-repositories key default-v1: s3 bucket my-bucket at minio.argo.svc:9000",
        "PASS  github-app-rex  Secret argo/github-app-rex: app-id, installation-id and an RSA private-key filled in",
        "PASS  github-app-clippy  Secret argo/github-app-clippy: app-id, installation-id and an RSA private-key filled in",
        "PASS  github-app-qa  Secret argo/github-app-qa: app-id, installation-id and an RSA private-key filled in",
        "PASS  ingress-class  IngressClass nginx (controller k8s.io/ingress-nginx)",
        "all 10 checks passed",
        "",
      ].join("\n"),
    );
    expect(r.code).toBe(0);
  });

  it("never prints a Secret's value, in text or JSON", async () => {
    const cluster = healthyCluster();
    cluster.seed(appSecret("qa", { "app-id": "Iv23liSecretish", "installation-id": "987654321", "private-key": EC_KEY }));
    for (const argv of [["--stack", "test"], ["--stack", "test", "--json"]]) {
      const r = await doctor(cluster, argv);
      expect(r.code).toBe(1);
      const body = RSA_KEY.split("\n")[1];
      for (const value of ["Iv23liSecretish", "987654321", body, EC_KEY.split("\n")[1], Buffer.from("Iv23liSecretish").toString("base64")]) {
        expect(r.stdout + r.stderr).not.toContain(value);
      }
    }
  });

  it("--json prints {check, ok, detail, fix} for every check, and skips the context lookup", async () => {
    const r = await doctor(healthyCluster(), ["--stack", "test", "--json"]);
    const results = JSON.parse(r.stdout) as CheckResult[];
    expect(results.map((x) => x.check)).toEqual(["kubernetes", "namespace", "argo-crds", "argo-version", "agent-template", "artifact-repository", "github-app-rex", "github-app-clippy", "github-app-qa", "ingress-class"]);
    expect(results.every((x) => Object.keys(x).join() === "check,ok,detail,fix" && x.ok && x.fix === null)).toBe(true);
    expect(r.calls).toEqual(HEALTHY_CALLS.slice(1));
    expect(r.code).toBe(0);
  });

  it("fails an old Kubernetes (1.29) and still checks the rest", async () => {
    const cluster = healthyCluster();
    cluster.serverVersion = serverVersion("1", "29", "v1.29.8");
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([["kubernetes", "server v1.29.8 is older than 1.30: the stack's admission policy is a ValidatingAdmissionPolicy v1 (GA in 1.30)"]]);
    expect(r.calls).toEqual(HEALTHY_CALLS.slice(1));
    expect(r.code).toBe(1);
  });

  it("stops after kubectl version when no API server answers, failing the rest as not checked", async () => {
    // No context set: kubectl looks for a server at localhost:8080, and none answers there.
    const cluster = healthyCluster();
    cluster.context = null;
    cluster.faults = { unreachable: "localhost:8080" };
    const r = await doctor(cluster);
    expect(r.calls).toEqual(["kubectl config current-context", "kubectl version -o json"]);
    const lines = r.stdout.split("\n");
    expect(lines[0]).toBe("Checking kube context (none set) for stack test");
    expect(lines[1]).toBe("FAIL  kubernetes  kubectl got no server version: The connection to the server localhost:8080 was refused - did you specify the right host or port?");
    expect(lines).toContain("FAIL  ingress-class  not checked: kubectl reached no API server");
    expect(lines.at(-2)).toBe("10 of 10 checks failed");
    expect(r.code).toBe(1);
  });

  it("fails every Argo check of a cluster without Argo, as kubectl words it", async () => {
    const cluster = healthyCluster();
    // Without its CRDs the server knows no Argo resource type (their objects went with them).
    for (const crd of ARGO_CRD_NAMES) cluster.remove("CustomResourceDefinition", crd);
    cluster.remove("Deployment", "argo-server", "argo");
    cluster.remove("Deployment", "workflow-controller", "argo");
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([
      ["argo-crds", "missing CRD workflows.argoproj.io, workflowtemplates.argoproj.io, cronworkflows.argoproj.io"],
      ["argo-version", "cannot determine the Argo Workflows version: no Deployment runs a …/workflow-controller image"],
      ["agent-template", 'cannot read WorkflowTemplate argo/coderun-template: error: the server doesn\'t have a resource type "workflowtemplates"'],
    ]);
    expect(r.code).toBe(1);
  });

  it("fails a missing workflows namespace", async () => {
    // What lived in it went with it, as in a real cluster: the objects the doctor reads there are missing too.
    const cluster = healthyCluster();
    cluster.remove("Namespace", "argo");
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([
      ["namespace", "namespace argo does not exist"],
      ["argo-version", "cannot determine the Argo Workflows version: no Deployment runs a …/workflow-controller image"],
      ["agent-template", "WorkflowTemplate argo/coderun-template not found"],
      ["artifact-repository", "ConfigMap argo/artifact-repositories not found"],
      ["github-app-rex", "Secret argo/github-app-rex not found"],
      ["github-app-clippy", "Secret argo/github-app-clippy not found"],
      ["github-app-qa", "Secret argo/github-app-qa not found"],
    ]);
    expect(r.code).toBe(1);
  });

  it("fails a cluster without the CronWorkflow CRD", async () => {
    const cluster = healthyCluster();
    cluster.remove("CustomResourceDefinition", "cronworkflows.argoproj.io");
    const r = await failures(cluster);
    expect(r.failed).toEqual([{
      check: "argo-crds",
      ok: false,
      detail: "missing CRD cronworkflows.argoproj.io",
      fix: "install or upgrade Argo Workflows to 3.6 or later (its CRDs included: the full CRDs with kubectl apply --server-side)",
    }]);
  });

  it("fails full CRDs without the plural fields (Argo before 3.6)", async () => {
    const cluster = healthyCluster();
    cluster.seed(fullCrd("cronworkflows.argoproj.io", ["schedule"]));
    const r = await failures(cluster);
    expect(r.failed.map((f) => f.detail)).toEqual(["cronworkflows.argoproj.io has no spec.schedules (the TTL sweeper)"]);
  });

  it("fails an Argo 3.5 controller", async () => {
    const cluster = healthyCluster();
    cluster.seed(deployment("argo", "workflow-controller", "quay.io/argoproj/workflow-controller:v3.5.8"));
    const r = await failures(cluster);
    expect(r.failed.map((f) => f.detail)).toEqual(["argo/workflow-controller runs v3.5.8, older than 3.6: the stack uses synchronization.mutexes and a CronWorkflow's schedules (3.6 and later)"]);
  });

  it("looks for the controller in the workflows namespace when listing all namespaces is forbidden", async () => {
    const cluster = healthyCluster();
    cluster.faults = refusing((read) => read.verb === "list" && read.resource === "deployments.apps" && read.namespace === undefined);
    const r = await failures(cluster);
    expect(r.failed).toEqual([]);
    expect(r.calls.slice(5, 8)).toEqual(["kubectl get deployments --all-namespaces -o json", "kubectl get deployments -n argo -o json", "kubectl get workflowtemplates.argoproj.io coderun-template -n argo -o json"]);
    expect(r.code).toBe(0);
  });

  it("says the Argo version cannot be determined when neither list is allowed", async () => {
    const cluster = healthyCluster();
    cluster.faults = refusing((read) => read.verb === "list" && read.resource === "deployments.apps");
    const r = await failures(cluster);
    expect(r.failed.map((f) => f.detail)).toEqual([
      'cannot determine the Argo Workflows version: cannot list deployments: Error from server (Forbidden): deployments.apps is forbidden: User "jane@example.com" cannot list resource "deployments" in API group "apps" in the namespace "argo"',
    ]);
  });

  it("fails a missing agent template", async () => {
    const cluster = healthyCluster();
    cluster.remove("WorkflowTemplate", "coderun-template", "argo");
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([["agent-template", "WorkflowTemplate argo/coderun-template not found"]]);
  });

  it("fails an agent template that reads a parameter the pipeline does not give", async () => {
    const cluster = healthyCluster();
    cluster.seed(agentTemplate("coderun-template", ["foo"]));
    const r = await doctor(cluster);
    expect(r.stdout).toContain(`FAIL  agent-template  coderun-template reads workflow.parameters.foo, which the pipeline does not give (it gives ${GIVEN.join(", ")}) and the template does not default\n`);
    expect(r.stdout).toContain("      fix: give each a default in the template's spec.arguments.parameters, or stop reading it");
    expect(r.stdout.split("\n").filter((l) => l.startsWith("FAIL"))).toHaveLength(1);
    expect(r.code).toBe(1);
  });

  it("reads a ClusterWorkflowTemplate without a namespace when agent.clusterScope is set", async () => {
    const cluster = healthyCluster();
    cluster.remove("WorkflowTemplate", "coderun-template", "argo");
    cluster.seed(agentTemplate("platform-coderun", [], "ClusterWorkflowTemplate"));
    const r = await failures(cluster, ["  implementation-dag:agent:", "    templateName: platform-coderun", "    clusterScope: true"]);
    expect(r.failed).toEqual([]);
    expect(r.calls).toContain("kubectl get clusterworkflowtemplates.argoproj.io platform-coderun -o json");
  });

  it("fails a missing artifact repository ConfigMap", async () => {
    const cluster = healthyCluster();
    cluster.remove("ConfigMap", "artifact-repositories", "argo");
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([["artifact-repository", "ConfigMap argo/artifact-repositories not found"]]);
  });

  it("fails an artifact repository of another kind than artifactRepository.storage", async () => {
    const r = await failures(healthyCluster(), ["  implementation-dag:artifactRepository:", "    storage: gcs"]);
    expect(r.failed.map((f) => f.detail)).toEqual(["ConfigMap argo/artifact-repositories key default-v1 is not an gcs repository (it has s3)"]);
  });

  it("fails each GitHub App Secret that is missing or holds the render's placeholders", async () => {
    const cluster = healthyCluster();
    cluster.remove("Secret", "github-app-clippy", "argo");
    cluster.seed(appSecret("qa", { "app-id": "[secret]", "installation-id": "200003", "private-key": RSA_KEY }));
    const r = await failures(cluster);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([
      ["github-app-clippy", "Secret argo/github-app-clippy not found"],
      ["github-app-qa", "Secret argo/github-app-qa: app-id is the placeholder [secret]"],
    ]);
  });

  it("fails a missing ingress class, reading the one deploy.ingressClass names", async () => {
    const cluster = healthyCluster();
    cluster.remove("IngressClass", "nginx");
    const r = await failures(cluster, ["  implementation-dag:deploy:", "    ingressClass: traefik"]);
    expect(r.failed.map((f) => [f.check, f.detail])).toEqual([["ingress-class", "IngressClass traefik not found"]]);
    expect(r.calls.at(-1)).toBe("kubectl get ingressclass traefik -o json");
  });

  it("reads every namespaced object from the configured namespace", async () => {
    const r = await failures(healthyCluster("workflows"), ["  implementation-dag:namespace: workflows"]);
    expect(r.calls).toEqual(HEALTHY_CALLS.slice(1).map((c) => c.replace(/-n argo /, "-n workflows ").replace("namespace argo", "namespace workflows")));
    expect(r.failed).toEqual([]);
  });

  it("exits 1 with the config message when the stack config is invalid, before any kubectl call", async () => {
    const r = await doctor(healthyCluster(), ["--stack", "test"], projectWith(["  implementation-dag:deploy:", "    ingressClass: Not_A_Name"]));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("implementation-dag:deploy.ingressClass: must be a Kubernetes object name");
    expect(r.calls).toEqual([]);
  });

  it("exits 2 naming the stack when it has no config file, before any kubectl call", async () => {
    const project = projectWith();
    const r = await doctor(healthyCluster(), ["--stack", "prod"], project);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(`ERROR: --stack prod: there is no ${path.join(project, "Pulumi.prod.yaml")}\nusage: npm run doctor [-- --stack NAME] [--json]\n`);
    expect(r.calls).toEqual([]);
  });
});

describe("the README's doctor section", () => {
  it("lists every check the doctor reports, in its order", async () => {
    const readme = readFileSync(path.join(PROJECT_ROOT, "README.md"), "utf8");
    const section = readme.split("### Prerequisites and `npm run doctor`")[1].split("\n### ")[0];
    const tableChecks = [...section.matchAll(/^\| `([a-z<>-]+)` \|/gm)].map((m) => m[1]);
    const r = await doctor(healthyCluster(), ["--stack", "test", "--json"]);
    const reported = (JSON.parse(r.stdout) as CheckResult[]).map((x) => x.check.replace(/^github-app-(rex|clippy|qa)$/, "github-app-<app>"));
    expect(tableChecks).toEqual([...new Set(reported)]);
  });
});

describe("scripts/doctor.ts as npm runs it", () => {
  // Under this node, so PATH can hold nothing but the stand-ins (or nothing at all).
  const run = (args: string[], env: NodeJS.ProcessEnv) => runScript("scripts/doctor.ts", args, env);

  it("checks the preview stack with the kubectl on PATH and exits 0 on a healthy cluster", async () => {
    const cluster = healthyCluster();
    standIns = await startStandIns(["kubectl"], cluster.handle);
    const r = await run(["--json"], { ...process.env, ...standIns.env, PATH: `${standIns.dir}${path.delimiter}${process.env.PATH ?? ""}` });
    // The preview stack's namespace, template, ConfigMap and ingress class are the defaults the script holds.
    expect(standIns.lines()).toEqual(HEALTHY_CALLS.slice(1));
    expect(cluster.unknown).toEqual([]);
    expect((JSON.parse(r.stdout) as CheckResult[]).filter((x) => !x.ok)).toEqual([]);
    expect(r.code).toBe(0);
  });

  it("exits 1 when a check fails", async () => {
    const cluster = healthyCluster();
    cluster.remove("IngressClass", "nginx");
    standIns = await startStandIns(["kubectl"], cluster.handle);
    const r = await run([], { ...process.env, ...standIns.env, PATH: `${standIns.dir}${path.delimiter}${process.env.PATH ?? ""}` });
    expect(r.stdout).toContain("FAIL  ingress-class  IngressClass nginx not found\n");
    expect(r.stdout).toContain("1 of 10 checks failed\n");
    expect(cluster.unknown).toEqual([]);
    expect(r.code).toBe(1);
  });

  // The two runs above are the program as npm runs it (tsx, exit codes, the kubectl on PATH); what
  // follows needs no process of its own, so it calls main in this process.
  it("exits 2 on an unknown argument, naming it, without calling kubectl", async () => {
    const r = await doctor(healthyCluster(), ["--stack", "preview", "--verbose"], PROJECT_ROOT);
    expect(r.stderr).toBe('ERROR: unknown argument "--verbose"\nusage: npm run doctor [-- --stack NAME] [--json]\n');
    expect(r.calls).toEqual([]);
    expect(r.code).toBe(2);
  });

  it("fails every check, saying so, when no kubectl is on PATH", async () => {
    let stdout = "";
    const kubectl = systemKubectl({ ...process.env, PATH: mkdtempSync(path.join(tmpdir(), "empty-path-")) });
    const code = await main(["--json"], { projectRoot: PROJECT_ROOT, kubectl, stdout: (s) => (stdout += s), stderr: () => undefined });
    const results = JSON.parse(stdout) as CheckResult[];
    expect(results[0]).toEqual({
      check: "kubernetes",
      ok: false,
      detail: "kubectl got no server version: kubectl not found on PATH",
      fix: "install kubectl and put it on PATH",
    });
    expect(code).toBe(1);
  });
});

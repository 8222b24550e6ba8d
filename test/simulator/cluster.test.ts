/**
 * The fake cluster (simulator/cluster.ts) answered directly, without a step: where its answers follow
 * the real helm and kubectl, and where it refuses what it does not understand.
 */
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { argoCrd, FakeCluster } from "../../simulator/cluster";
import type { ToolCall } from "../../simulator/stand-ins";
import { realTool } from "../../simulator/tools";
import { previewNamespace } from "../helpers/cluster-objects";

const NS = "impl-pr-42";
const call = (tool: string, ...args: string[]): ToolCall => ({ tool, args, stdin: "", cwd: tmpdir(), env: {} });

describe("the fake cluster", () => {
  it("answers helm uninstall --ignore-not-found of a missing release as helm v4 does, and fails without the flag", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    expect(await cluster.handle(call("helm", "uninstall", "app-pr-42", "--namespace", NS, "--ignore-not-found", "--timeout", "5m")))
      .toEqual({ stdout: 'release "app-pr-42" uninstalled\n' });
    expect(await cluster.handle(call("helm", "uninstall", "app-pr-42", "--namespace", NS)))
      .toEqual({ stderr: "Error: uninstall: Release not loaded: app-pr-42: release: not found\n", code: 1 });
  });

  it("refuses a set-based label selector loudly instead of guessing, and lists the call", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const r = await cluster.handle(call("kubectl", "get", "namespaces", "-l", "preview in (true)", "-o", "json"));
    expect(r.code).toBe(97);
    expect(cluster.unknown).toEqual(["kubectl get namespaces -l preview in (true) -o json  (label selector preview in (true) not understood)"]);
  });

  it("refuses an upgrade of a release left pending, lists it as pending, and rolls it back to a new deployed revision", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    cluster.addRelease(NS, "app-pr-42", [{ revision: 1, status: "deployed" }, { revision: 2, status: "pending-upgrade" }]);
    expect(await cluster.handle(call("helm", "upgrade", "--install", "app-pr-42", "charts/app", "-n", NS)))
      .toEqual({ stderr: "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n", code: 1 });
    const pending = await cluster.handle(call("helm", "list", "-n", NS, "--pending", "-o", "json"));
    expect((JSON.parse(pending.stdout ?? "") as Array<{ name: string; status: string }>).map((r) => [r.name, r.status])).toEqual([["app-pr-42", "pending-upgrade"]]);
    expect(await cluster.handle(call("helm", "rollback", "app-pr-42", "1", "-n", NS, "--timeout", "5m"))).toEqual({ stdout: "Rollback was a success! Happy Helming!\n" });
    const history = JSON.parse((await cluster.handle(call("helm", "history", "app-pr-42", "-n", NS, "-o", "json"))).stdout ?? "") as Array<{ revision: number; status: string; description: string }>;
    expect(history.map((h) => [h.revision, h.status])).toEqual([[1, "superseded"], [2, "superseded"], [3, "deployed"]]);
    expect(history[2].description).toBe("Rollback to 1");
    expect(await cluster.handle(call("helm", "list", "-n", NS, "--pending", "-o", "json"))).toEqual({ stdout: "[]\n" });
  });

  it("has a previous log only for a container that restarted, as kubectl answers", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    const pod = (name: string, restartCount: number) => ({
      apiVersion: "v1", kind: "Pod", metadata: { name, namespace: NS },
      status: { phase: "Running", containerStatuses: [{ name: "app", image: "nginx:1", restartCount }] },
    });
    cluster.adopt(pod("fresh", 0), pod("crashing", 2));
    cluster.setLog(NS, "crashing", "app", ["second start"], ["first start failed"]);
    expect(await cluster.handle(call("kubectl", "logs", "fresh", "-n", NS, "--all-containers", "--prefix", "--previous")))
      .toEqual({ stderr: 'Error from server (BadRequest): previous terminated container "app" in pod "fresh" not found\n', code: 1 });
    expect(await cluster.handle(call("kubectl", "logs", "crashing", "-n", NS, "--all-containers", "--prefix", "--previous", "--tail=200")))
      .toEqual({ stdout: "[pod/crashing/app] first start failed\n" });
    expect(await cluster.handle(call("kubectl", "logs", "fresh", "-n", NS, "-c", "app"))).toEqual({ stdout: "app: started nginx:1\n" });
  });

  it("answers config current-context and version from what the world set, and refuses every call when no server answers", async () => {
    const cluster = new FakeCluster();
    expect(await cluster.handle(call("kubectl", "config", "current-context"))).toEqual({ stderr: "error: current-context is not set\n", code: 1 });
    cluster.context = "kind-preview";
    cluster.serverVersion = { major: "1", minor: "32+", gitVersion: "v1.32.3-eks-4096722", platform: "linux/amd64" };
    expect(await cluster.handle(call("kubectl", "config", "current-context"))).toEqual({ stdout: "kind-preview\n" });
    const version = JSON.parse((await cluster.handle(call("kubectl", "version", "-o", "json"))).stdout ?? "") as { clientVersion: { gitVersion: string }; serverVersion: unknown };
    expect(version.serverVersion).toEqual(cluster.serverVersion);
    // The client's part is what the real kubectl the steps run with says of itself (no server needed).
    const client = JSON.parse(execFileSync(realTool("kubectl"), ["version", "--client", "-o", "json"], { encoding: "utf8" })) as { clientVersion: unknown; kustomizeVersion: string };
    expect(version.clientVersion).toEqual(client.clientVersion);
    cluster.faults.unreachable = "localhost:8080";
    const refused = "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n";
    const noServer = await cluster.handle(call("kubectl", "version", "-o", "json"));
    expect([noServer.code, noServer.stderr, JSON.parse(noServer.stdout ?? "")]).toEqual([1, refused, client]);
    const get = await cluster.handle(call("kubectl", "get", "namespace", "argo", "-o", "json"));
    expect(get.code).toBe(1);
    expect(get.stderr?.split("\n").slice(-2)).toEqual([refused.trimEnd(), ""]);
    expect(get.stderr).toMatch(/^E0101 .*memcache\.go.*couldn't get current server API group list/);
    expect(await cluster.handle(call("kubectl", "config", "current-context"))).toEqual({ stdout: "kind-preview\n" });
  });

  it("gets cluster-scoped and namespaced objects it was seeded with, NotFound by the resource's full name", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    cluster.seed(
      { apiVersion: "networking.k8s.io/v1", kind: "IngressClass", metadata: { name: "nginx" }, spec: { controller: "k8s.io/ingress-nginx" } },
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings", namespace: NS }, data: { a: "1" } },
    );
    expect(JSON.parse((await cluster.handle(call("kubectl", "get", "ingressclass", "nginx", "-o", "json"))).stdout ?? "")).toMatchObject({ kind: "IngressClass", spec: { controller: "k8s.io/ingress-nginx" } });
    expect(JSON.parse((await cluster.handle(call("kubectl", "get", "configmap", "settings", "-n", NS, "-o", "json"))).stdout ?? "")).toMatchObject({ data: { a: "1" } });
    expect(await cluster.handle(call("kubectl", "get", "ingressclass", "traefik", "-o", "json")))
      .toEqual({ stderr: 'Error from server (NotFound): ingressclasses.networking.k8s.io "traefik" not found\n', code: 1 });
    expect(await cluster.handle(call("kubectl", "get", "secret", "github-app-rex", "-n", NS, "-o", "json")))
      .toEqual({ stderr: 'Error from server (NotFound): secrets "github-app-rex" not found\n', code: 1 });
    expect(await cluster.handle(call("kubectl", "get", "deploy", "app", "-n", NS, "-o", "json")))
      .toEqual({ stderr: 'Error from server (NotFound): deployments.apps "app" not found\n', code: 1 });
    expect((await cluster.handle(call("kubectl", "get", "ingressclass", "nginx", "-n", NS, "-o", "json"))).code).toBe(97);
    expect(cluster.unknown).toEqual([`kubectl get ingressclass nginx -n ${NS} -o json  (kubectl get: ingressclass is cluster-scoped: -n and -A are not understood for it)`]);
    expect(() => cluster.seed({ apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "elsewhere" } })).toThrow("namespace elsewhere does not exist");
  });

  it("serves Argo's resource types only while their CRDs exist: removing one removes its objects and the type", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    expect(JSON.parse((await cluster.handle(call("kubectl", "get", "crd", "workflowtemplates.argoproj.io", "-o", "json"))).stdout ?? "")).toEqual(argoCrd("workflowtemplates.argoproj.io"));
    cluster.seed({ apiVersion: "argoproj.io/v1alpha1", kind: "WorkflowTemplate", metadata: { name: "t", namespace: NS }, spec: {} });
    expect((await cluster.handle(call("kubectl", "get", "workflowtemplates.argoproj.io", "t", "-n", NS, "-o", "json"))).code).toBeUndefined();
    cluster.remove("CustomResourceDefinition", "workflowtemplates.argoproj.io");
    expect(await cluster.handle(call("kubectl", "get", "workflowtemplates.argoproj.io", "t", "-n", NS, "-o", "json")))
      .toEqual({ stderr: 'error: the server doesn\'t have a resource type "workflowtemplates"\n', code: 1 });
    expect(await cluster.handle(call("kubectl", "get", "customresourcedefinition", "workflowtemplates.argoproj.io", "-o", "json")))
      .toEqual({ stderr: 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "workflowtemplates.argoproj.io" not found\n', code: 1 });
    cluster.seed(argoCrd("workflowtemplates.argoproj.io"));
    expect(await cluster.handle(call("kubectl", "get", "workflowtemplates.argoproj.io", "t", "-n", NS, "-o", "json")))
      .toEqual({ stderr: 'Error from server (NotFound): workflowtemplates.argoproj.io "t" not found\n', code: 1 });
  });

  it("refuses the reads RBAC denies with the API server's Forbidden, by scope", async () => {
    const cluster = new FakeCluster([previewNamespace(NS)]);
    cluster.seed({ apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: NS } });
    cluster.faults.forbidden = { user: "jane@example.com", denies: (r) => (r.resource === "deployments.apps" && r.namespace === undefined) || r.resource === "secrets" };
    expect(await cluster.handle(call("kubectl", "get", "deployments", "-A", "-o", "json"))).toEqual({
      stderr: 'Error from server (Forbidden): deployments.apps is forbidden: User "jane@example.com" cannot list resource "deployments" in API group "apps" at the cluster scope\n', code: 1,
    });
    expect(JSON.parse((await cluster.handle(call("kubectl", "get", "deployments", "-n", NS, "-o", "json"))).stdout ?? "")).toMatchObject({ kind: "List", items: [] });
    expect(await cluster.handle(call("kubectl", "get", "secret", "s", "-n", NS, "-o", "json"))).toEqual({
      stderr: `Error from server (Forbidden): secrets "s" is forbidden: User "jane@example.com" cannot get resource "secrets" in API group "" in the namespace "${NS}"\n`, code: 1,
    });
  });
});

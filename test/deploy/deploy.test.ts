/**
 * The deploy step (`pod` runner) run for real from the rendered template, with recording stand-ins
 * for kubectl, helm and git backed by a small fake cluster, and a fake GitHub for the token and the
 * PR head: the exact calls and their order, what is created, the outputs and the evidence. The
 * step image's busybox runs every scenario of the first block; GNU tools run those of them whose
 * shell tools differ (GNU_SCENARIOS) and every other test.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { type StepResult } from "../../simulator/argo-step";
import {
  busyboxDir, CHART_INGRESS, DEPLOYER_ROLE, filesIn, GUARDRAILS_ROLE, HEAD_SHA, HOST, ingress, INSTANCE,
  HEAD_TAG, newWorld, NS, OWNER, pod, previewNamespace, RELEASE, REPO, WORKFLOW, type World,
  DeployRunOptions, useDeployStep,
} from "./fixtures";

const step = useDeployStep();

/** Runs the deploy step against a world; the chart contract's offline calls are listed apart. */
async function deploy(world: World, options: DeployRunOptions = {}) {
  const { r, cluster, offline, calls } = await step.run(world, options);
  return { r, lines: cluster, offline, calls };
}

const git = [
  "git -c init.defaultBranch=preview init --quiet <work>/checkout",
  `git -C <work>/checkout fetch --quiet --depth 1 --no-tags https://github.com/${OWNER}/${REPO}.git ${HEAD_SHA}`,
  "git -C <work>/checkout checkout --quiet --detach FETCH_HEAD",
  "git -C <work>/checkout rev-parse HEAD",
];
const helmUpgrade = (chart = "<work>/checkout/charts/app", values = "<work>/checkout/charts/app/values-preview.yaml") =>
  `helm upgrade --install ${RELEASE} ${chart} -n ${NS} --kubeconfig <work>/kubeconfig -f ${values} ` +
  `--set-string image.tag=${HEAD_TAG} --set-string image.pullPolicy=IfNotPresent --set-string ingress.host=${HOST} --set-string ingress.className=nginx --wait --timeout 5m`;
/** The GitHub deployment's id and the preview URL, recorded on the namespace. */
const deploymentRecord = (id = "<id>") =>
  `kubectl annotate namespace ${NS} --overwrite implementation-dag/deployment=${id} implementation-dag/environment-url=https://${HOST}/ implementation-dag/host=${HOST}`;
/** The check for a release a killed step left pending. */
const pendingCheck = `helm list -n ${NS} --kubeconfig <work>/kubeconfig --pending --filter ^${RELEASE}$ -o json`;
const guardrailsAndChart = (verb: "create" | "apply") => [
  deploymentRecord(),
  `kubectl ${verb} -n ${NS} -f -`,
  `kubectl ${verb} -n ${NS} -f -`,
  `kubectl apply -n ${NS} -f <guardrails>`,
  `kubectl apply -n ${NS} -f -`,
  `kubectl create token preview-deployer -n ${NS} --duration=1200s`,
  pendingCheck,
];
/** The reuse's relabelling: this run, this stack's instance, Pod Security. */
const relabel =
  `kubectl label namespace ${NS} --overwrite workflow=${WORKFLOW} implementation-dag/instance=argo pod-security.kubernetes.io/enforce=restricted ` +
  "pod-security.kubernetes.io/audit=restricted pod-security.kubernetes.io/warn=restricted";
const afterHelm = [
  `kubectl annotate namespace ${NS} --overwrite implementation-dag/deployed-commit=${HEAD_SHA} implementation-dag/deployed-workflow=${WORKFLOW}`,
  `kubectl get ingress -n ${NS} -o json`,
];
const urlsOf = (r: StepResult) => JSON.parse(readFileSync(r.artifacts["deploy-urls"], "utf8"));

/**
 * The scenarios below that GNU tools run too: the success path (mktemp, chmod, tee, rm and the
 * libraries' tr, sed, head and cat), the evidence of a failed release (head) and the symlink guard
 * (find, readlink). The others take the same shell path and differ in what jq and the stand-ins
 * answer, and jq is the same binary under both.
 */
const GNU_SCENARIOS = new Set([
  "finds the tools first on PATH",
  "gives helm the deployer's token only in a kubeconfig file of mode 0600, never in any tool's argv or env, and removes the file after",
  "collects evidence when helm fails, and exits non-zero",
  "refuses a chart with a symlink out of the repository before touching the cluster",
]);

describe.each(["gnu", "busybox"] as const)("deploy (pod runner, %s tools)", (tools) => {
  const named = new Set<string>();
  /** A scenario of this block: busybox runs each, GNU tools those GNU_SCENARIOS names. */
  const scenario = (name: string, test: () => Promise<void>) => {
    named.add(name);
    if (tools === "busybox" || GNU_SCENARIOS.has(name)) it(name, test);
  };

  scenario("finds the tools first on PATH", async () => {
    const dirs = tools === "busybox" ? [busyboxDir()] : [];
    const r = await new Promise<string>((resolve, reject) =>
      execFile("bash", ["-c", 'for t in tr sed mktemp readlink base64 tee head find; do readlink -f "$(command -v "$t")"; done'],
        { env: { ...process.env, PATH: [...dirs, process.env.PATH].join(":") } }, (e, out) => (e ? reject(e) : resolve(out))));
    const resolved = new Set(r.trim().split("\n"));
    if (tools === "busybox") expect([...resolved]).toEqual(["/usr/bin/busybox"]);
    else expect(resolved.has("/usr/bin/busybox")).toBe(false);
  });

  scenario("gives helm the deployer's token only in a kubeconfig file of mode 0600, never in any tool's argv or env, and removes the file after", async () => {
    const world = newWorld();
    const { r, calls } = await deploy(world, { tools });
    expect(r.code).toBe(0);
    // The fake cluster read the token from the kubeconfig and refused one readable by others.
    const token = world.token!;
    expect(token).toBeDefined();
    expect(world.cluster.helmCallers).toEqual([
      { verb: "list", token, mode: 0o600 },
      { verb: "upgrade", token, mode: 0o600 },
    ]);
    expect(calls.length).toBeGreaterThan(5);
    for (const call of calls) {
      expect(call.args.join(" "), `${call.tool} argv`).not.toContain(token);
      expect(Object.values(call.env).join("\n"), `${call.tool} env`).not.toContain(token);
    }
    const upgrade = calls.find((c) => c.tool === "helm" && c.args[0] === "upgrade");
    const kubeconfig = upgrade?.args[upgrade.args.indexOf("--kubeconfig") + 1] ?? "";
    expect(kubeconfig).toMatch(/\/deploy\.[A-Za-z0-9]{6}\/kubeconfig$/);
    expect(existsSync(kubeconfig)).toBe(false);
  });

  scenario("a failed release removes the kubeconfig before collecting evidence, which runs as the step itself", async () => {
    const world = newWorld({ helmFails: true, pods: [pod("app-1", false)] });
    const { r, calls } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    const token = world.token!;
    expect(world.cluster.helmCallers.map((h) => [h.verb, h.token])).toEqual([["list", token], ["upgrade", token], ["status", null], ["history", null]]);
    for (const call of calls) expect(call.args.join(" ")).not.toContain(token);
  });

  scenario("creates a new preview: namespace, bindings, guardrails, deployer, then the chart as the deployer", async () => {
    const world = newWorld();
    const { r, lines, calls } = await deploy(world, { tools });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toEqual([
      ...git,
      `kubectl get namespace ${NS} -o json --ignore-not-found`,
      "kubectl create -f -",
      ...guardrailsAndChart("create"),
      helmUpgrade(),
      ...afterHelm,
    ]);
    expect(world.applied).toEqual([
      {
        apiVersion: "v1", kind: "Namespace",
        metadata: {
          name: NS,
          labels: {
            preview: "true", pr: "42", workflow: WORKFLOW, "implementation-dag/instance": INSTANCE, "app.kubernetes.io/managed-by": "implementation-dag",
            "pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/audit": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
          },
          annotations: { "implementation-dag/repository": `${OWNER}/${REPO}` },
        },
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
        metadata: { name: GUARDRAILS_ROLE, namespace: NS, labels: { "app.kubernetes.io/managed-by": "implementation-dag" } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: GUARDRAILS_ROLE },
        subjects: [{ kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" }],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
        metadata: { name: DEPLOYER_ROLE, namespace: NS, labels: { "app.kubernetes.io/managed-by": "implementation-dag" } },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: DEPLOYER_ROLE },
        subjects: [
          { kind: "ServiceAccount", name: "preview-deployer", namespace: NS },
          { kind: "ServiceAccount", name: "implementation-dag", namespace: "argo" },
          { kind: "ServiceAccount", name: "implementation-dag-sweeper", namespace: "argo" },
        ],
      },
      {
        apiVersion: "v1", kind: "ServiceAccount",
        metadata: { name: "preview-deployer", namespace: NS, labels: { "app.kubernetes.io/managed-by": "implementation-dag" } },
        automountServiceAccountToken: false,
      },
    ]);
    // The guardrails directory's objects are in the namespace, the quota on load balancers among them.
    const held = world.cluster.objects.get(NS) ?? [];
    expect([...new Set(held.filter((o) => ["LimitRange", "NetworkPolicy", "ResourceQuota"].includes(o.kind)).map((o) => o.kind))].sort()).toEqual(["LimitRange", "NetworkPolicy", "ResourceQuota"]);
    const quota = held.find((o) => o.kind === "ResourceQuota")?.spec as { hard: Record<string, string> } | undefined;
    expect(Object.keys(quota?.hard ?? {})).toContain("services.loadbalancers");

    // GitHub: one token narrowed to the repository and read-only, then the PR's head and its build;
    // then one narrowed to deployments:write for the deployment and its in_progress status.
    expect(step.gh.violations).toEqual([]);
    const deployment = step.gh.deployments(OWNER, REPO).at(-1)!;
    expect(step.gh.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      "POST /app/installations/200003/access_tokens",
      `GET /repos/${OWNER}/${REPO}/pulls/42`,
      `GET /repos/${OWNER}/${REPO}/commits/${HEAD_SHA}/check-runs`,
      "POST /app/installations/200003/access_tokens",
      `POST /repos/${OWNER}/${REPO}/deployments`,
      `POST /repos/${OWNER}/${REPO}/deployments/${deployment.id}/statuses`,
    ]);
    expect(step.gh.requests[0].body).toEqual({ repositories: [REPO], permissions: { contents: "read", pull_requests: "read", checks: "read" } });
    expect(step.gh.requests[2].query).toEqual({ check_name: "build", filter: "latest", per_page: "100" });
    expect(step.gh.requests[3].body).toEqual({ repositories: [REPO], permissions: { deployments: "write" } });
    expect(step.gh.writes().map((q) => q.body)).toEqual([
      {
        ref: HEAD_SHA, environment: "pr-42", auto_merge: false, required_contexts: [], transient_environment: true,
        production_environment: false, task: "deploy:preview", description: `implementation-dag ${WORKFLOW}`, payload: { workflow: WORKFLOW },
      },
      { state: "in_progress", description: `Deploying ${HEAD_SHA.slice(0, 12)}`, log_url: `https://argo.example.com/workflows/argo/${WORKFLOW}` },
    ]);
    expect(world.namespace!.metadata).toMatchObject({
      annotations: { "implementation-dag/deployment": String(deployment.id), "implementation-dag/environment-url": `https://${HOST}/` },
    });
    // The token reaches git through its environment only, for the fetch only.
    const token = (step.gh.requests[0].response as { token: string }).token;
    const fetch = calls[1];
    expect(fetch.args.join(" ")).not.toContain(token);
    expect(fetch.env.GIT_CONFIG_KEY_0).toBe("http.extraHeader");
    expect(fetch.env.GIT_CONFIG_VALUE_0).toBe(`Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString("base64")}`);
    expect(fetch.env.GITHUB_TOKEN).toBeUndefined();
    for (const c of calls) expect(JSON.stringify({ ...c, env: { ...c.env, GIT_CONFIG_VALUE_0: "" } })).not.toContain(token);

    expect(r.outputs).toEqual({ commit: HEAD_SHA });
    expect(urlsOf(r)).toEqual({ ns: NS, release: RELEASE, hosts: [HOST], endpoints: [{ host: HOST, path: "/", url: `https://${HOST}/` }], warnings: [] });
    expect(world.namespace!.metadata).toMatchObject({
      annotations: { "implementation-dag/deployed-commit": HEAD_SHA, "implementation-dag/deployed-workflow": WORKFLOW },
    });
  });

  scenario("reuses an existing preview namespace: refreshes its labels and reconciles the bindings", async () => {
    const world = newWorld({ namespace: previewNamespace() });
    const { r, lines } = await deploy(world, { tools });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toEqual([
      ...git,
      `kubectl get namespace ${NS} -o json --ignore-not-found`,
      relabel,
      ...guardrailsAndChart("apply"),
      helmUpgrade(),
      ...afterHelm,
    ]);
    expect(r.outputs.commit).toBe(HEAD_SHA);
  });

  scenario("adopts a preview of this repository made before the instance label: labels it, then creates the bindings", async () => {
    const world = newWorld({ namespace: previewNamespace({ instance: null }) });
    const { r, lines } = await deploy(world, { tools });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`namespace ${NS} is a preview of ${OWNER}/${REPO} without an instance label: adopting it into instance ${INSTANCE}`);
    // Its older bindings name the ClusterRoles of before: new ones are created beside them.
    expect(lines).toEqual([...git, `kubectl get namespace ${NS} -o json --ignore-not-found`, relabel, ...guardrailsAndChart("create"), helmUpgrade(), ...afterHelm]);
    expect((world.namespace!.metadata as { labels: Record<string, string> }).labels["implementation-dag/instance"]).toBe(INSTANCE);
  });

  scenario("refuses another instance's preview of the same name, whatever repository it records, and changes nothing", async () => {
    const world = newWorld({ namespace: previewNamespace({ instance: "argo-team-b" }) });
    const { r, lines } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} belongs to the implementation-dag instance 'argo-team-b', not to ${INSTANCE}; refusing to touch it\n`);
    expect(lines).toEqual([...git, `kubectl get namespace ${NS} -o json --ignore-not-found`]);
    expect(world.applied).toEqual([]);
  });

  scenario("refuses a namespace of that name that is not a preview, and changes nothing", async () => {
    const world = newWorld({ namespace: { ...previewNamespace(), metadata: { name: NS, creationTimestamp: "2026-01-01T00:00:00Z", labels: { team: "payments" } } } });
    const { r, lines } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} exists and is not a preview (no label preview=true); refusing to touch it\n`);
    expect(lines).toEqual([...git, `kubectl get namespace ${NS} -o json --ignore-not-found`]);
    expect(world.applied).toEqual([]);
    expect(r.outputs).toEqual({});
    expect(r.artifacts["deploy-urls"]).toBeUndefined();
  });

  scenario("collects evidence when helm fails, and exits non-zero", async () => {
    const world = newWorld({ helmFails: true, pods: [pod(`${RELEASE}-5d9f-ready`, true), pod(`${RELEASE}-5d9f-crash`, false, 3), pod(`${RELEASE}-5d9f-pending`, false)] });
    const { r, lines } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ERROR: helm: release example-app-pr-42 did not become ready in impl-pr-42; evidence in \S+\/outputs\/evidence\n$/);
    expect(lines).toEqual([
      ...git,
      `kubectl get namespace ${NS} -o json --ignore-not-found`,
      "kubectl create -f -",
      ...guardrailsAndChart("create"),
      helmUpgrade(),
      `helm status ${RELEASE} -n ${NS}`,
      `helm history ${RELEASE} -n ${NS}`,
      `kubectl get events -n ${NS} --sort-by=.lastTimestamp`,
      `kubectl get pods -n ${NS} -o json`,
      `kubectl describe pod ${RELEASE}-5d9f-crash -n ${NS}`,
      `kubectl logs ${RELEASE}-5d9f-crash -n ${NS} --all-containers --prefix --tail=200`,
      `kubectl logs ${RELEASE}-5d9f-crash -n ${NS} --all-containers --prefix --previous --tail=200`,
      `kubectl describe pod ${RELEASE}-5d9f-pending -n ${NS}`,
      `kubectl logs ${RELEASE}-5d9f-pending -n ${NS} --all-containers --prefix --tail=200`,
    ]);
    const evidence = r.artifacts["deploy-evidence"];
    expect(filesIn(evidence)).toEqual([
      "chart-contract.txt", "events.txt", "helm-history.txt", "helm-status.txt", "helm-upgrade.log",
      `pod-${RELEASE}-5d9f-crash.describe.txt`, `pod-${RELEASE}-5d9f-crash.log`, `pod-${RELEASE}-5d9f-crash.previous.log`,
      `pod-${RELEASE}-5d9f-pending.describe.txt`, `pod-${RELEASE}-5d9f-pending.log`,
      "pods.json",
    ]);
    expect(readFileSync(path.join(evidence, "helm-upgrade.log"), "utf8")).toContain("context deadline exceeded");
    expect(readFileSync(path.join(evidence, "helm-status.txt"), "utf8")).toContain("STATUS: failed");
    expect(readFileSync(path.join(evidence, `pod-${RELEASE}-5d9f-crash.log`), "utf8")).toContain("Read-only file system");
    expect(r.stderr).toContain("Back-off restarting failed container");
    expect(r.outputs).toEqual({});
    expect(r.artifacts["deploy-urls"]).toBeUndefined();
    expect(world.namespace!.metadata).not.toHaveProperty(["annotations", "implementation-dag/deployed-commit"]);
  });

  scenario("writes https for hosts with TLS (exact or wildcard) and http for the others", async () => {
    const world = newWorld({
      ingresses: [
        CHART_INGRESS,
        ingress("api", [{ host: `api.${HOST}`, paths: ["/v1", "/v2/"] }]),
        ingress("docs", [{ host: `docs.${HOST}` }], [[`*.${HOST}`]]),
        ingress("deep", [{ host: `a.b.${HOST}` }], [[`*.${HOST}`]]),
        ingress("catch-all", [{ paths: ["/"] }, { host: `*.${HOST}` }]),
        ingress("regex", [{ host: `rx.${HOST}`, paths: ["/api(/|$)(.*)"] }]),
      ],
    });
    const { r } = await deploy(world, { tools });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(urlsOf(r)).toEqual({
      ns: NS,
      release: RELEASE,
      hosts: [`a.b.${HOST}`, `api.${HOST}`, `docs.${HOST}`, HOST],
      endpoints: [
        { host: `a.b.${HOST}`, path: "/", url: `http://a.b.${HOST}/` },
        { host: `api.${HOST}`, path: "/v1", url: `http://api.${HOST}/v1` },
        { host: `api.${HOST}`, path: "/v2/", url: `http://api.${HOST}/v2/` },
        { host: `docs.${HOST}`, path: "/", url: `https://docs.${HOST}/` },
        { host: HOST, path: "/", url: `https://${HOST}/` },
      ],
      warnings: [],
    });
  });

  scenario("keeps only the preview's host and hosts under it: a hostile chart's other Ingress hosts become warnings, never URLs", async () => {
    const foreign = ["argo-server.argo.svc.cluster.local", "kubernetes.default.svc", "169.254.169.254.nip.io", "pr-7.preview.example.com"];
    const world = newWorld({
      ingresses: [
        CHART_INGRESS,
        ingress("sub", [{ host: `api.${HOST}` }]),
        ingress("argo", [{ host: foreign[0] }]),
        ingress("apiserver", [{ host: foreign[1] }], [[foreign[1]]]),
        ingress("metadata", [{ host: foreign[2], paths: ["/latest/meta-data/"] }]),
        ingress("neighbour", [{ host: foreign[3] }, { host: `x${HOST}` }, { host: `${HOST}.evil.example` }]),
      ],
    });
    const { r } = await deploy(world, { tools });
    expect(r.code).toBe(0);
    const urls = urlsOf(r) as { hosts: string[]; endpoints: Array<{ url: string }>; warnings: string[] };
    expect(urls.hosts).toEqual([`api.${HOST}`, HOST]);
    expect(urls.endpoints.map((e) => e.url)).toEqual([`http://api.${HOST}/`, `https://${HOST}/`]);
    const left = [...foreign, `x${HOST}`, `${HOST}.evil.example`];
    expect(JSON.stringify(urls.endpoints)).not.toMatch(new RegExp(left.map((h) => h.replace(/\./g, "\\.")).join("|")));
    expect(urls.warnings).toHaveLength(left.length);
    for (const host of left) {
      expect(urls.warnings.some((w) => w.startsWith(`ingress host ${host} (Ingress `))).toBe(true);
      expect(r.stderr).toContain(`WARNING: ingress: ingress host ${host} (Ingress `);
    }
    expect(urls.warnings).toContain(`ingress host ${foreign[0]} (Ingress argo) is not the preview host ${HOST} or under it: left out, acceptance does not request it`);
  });

  scenario("refuses a chart with a symlink out of the repository before touching the cluster", async () => {
    const world = newWorld({ extraFiles: { "charts/app/templates/key.yaml": { symlink: step.keyFile } } });
    const { r, lines } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("ERROR: chartPath: charts/app holds a symlink that leads out of the repository (templates/key.yaml); refusing it\n");
    expect(lines).toEqual(git);
  });

  scenario("fails when no Ingress names a host, without claiming a deployed commit", async () => {
    const world = newWorld({ ingresses: [] });
    const { r, lines } = await deploy(world, { tools });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ingress: no Ingress in namespace ${NS} names the preview host ${HOST} or a host under it; acceptance needs at least one URL (does the chart enable its Ingress, with ingress.host?)\n`);
    expect(lines.slice(-1)).toEqual([`kubectl get ingress -n ${NS} -o json`]);
    expect(r.outputs).toEqual({});
    expect(r.artifacts["deploy-urls"]).toBeUndefined();
  });

  for (const name of GNU_SCENARIOS) if (!named.has(name)) throw new Error(`GNU_SCENARIOS names no scenario: ${name}`);
});

describe("deploy (pod runner): inputs and sources", () => {
  it("refuses bad input before fetching or changing anything, naming every bad input", async () => {
    const world = newWorld();
    const { r, lines } = await deploy(world, { parameters: { ns: "kube-system", release: "x;rm -rf /", valuesFile: "../secrets.yaml", image_tag: "$(id)" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      "ERROR: ns: must be the preview namespace of PR 42 (impl-pr-42, or impl-<owner>-<repo>-<hash>-pr-42)",
      "ERROR: release: must be a DNS-1123 label of at most 53 characters ending in -pr-<pr>",
      // In the order of components/parameters.ts.
      "ERROR: valuesFile: must be a relative path without '.' or '..' segments",
      "ERROR: image_tag: must be empty (derived from the commit) or an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'",
    ]);
    expect(lines).toEqual([]);
    expect(step.gh.requests).toEqual([]);
  });

  it("refuses a bad instance or ClusterRole name from env before fetching or changing anything, naming each", async () => {
    const { r, lines } = await deploy(newWorld(), { env: { PREVIEW_INSTANCE: "Argo", DEPLOYER_CLUSTER_ROLE: "cluster-admin", GUARDRAILS_CLUSTER_ROLE: "cluster-admin" } });
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split("\n")).toEqual([
      "ERROR: PREVIEW_INSTANCE: must be a DNS-1123 label",
      "ERROR: GUARDRAILS_CLUSTER_ROLE: must not be DEPLOYER_CLUSTER_ROLE",
    ]);
    expect(lines).toEqual([]);
    expect(step.gh.requests).toEqual([]);
    const empty = await deploy(newWorld(), { env: { DEPLOYER_CLUSTER_ROLE: "", GUARDRAILS_CLUSTER_ROLE: "x/y" } });
    expect(empty.r.code).toBe(1);
    expect(empty.r.stderr.trim().split("\n")).toEqual([
      "ERROR: DEPLOYER_CLUSTER_ROLE: must be a ClusterRole's name (a DNS-1123 subdomain)",
      "ERROR: GUARDRAILS_CLUSTER_ROLE: must be a ClusterRole's name (a DNS-1123 subdomain)",
    ]);
    expect(empty.lines).toEqual([]);
  });

  it("binds the ClusterRoles its env names: nothing in the script names one", async () => {
    const world = newWorld();
    const { r } = await deploy(world, { env: { DEPLOYER_CLUSTER_ROLE: "role-d", GUARDRAILS_CLUSTER_ROLE: "role-g", PREVIEW_INSTANCE: "team-c" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const bindings = world.applied.filter((o) => o.kind === "RoleBinding");
    expect(bindings.map((b) => [(b.metadata as { name: string }).name, (b.roleRef as { name: string }).name])).toEqual([["role-g", "role-g"], ["role-d", "role-d"]]);
    expect((world.applied[0].metadata as { labels: Record<string, string> }).labels["implementation-dag/instance"]).toBe("team-c");
    // The guardrail templates' ConfigMap (namespaced, in the workflows namespace) is no ClusterRole.
    expect((step.template.script?.source ?? "").replaceAll("ConfigMap implementation-dag-guardrails", "")).not.toMatch(/implementation-dag-(deployer|guardrails|argo)/);
  });

  it("deploys a given full commit without asking GitHub for the PR head", async () => {
    const sha = "fedcba9876543210fedcba9876543210fedcba98";
    const world = newWorld();
    step.gh.addCheckRun(OWNER, REPO, sha, "build", { status: "completed", conclusion: "success" });
    const { r, lines } = await deploy(world, { parameters: { commit: sha.toUpperCase() } });
    // The fake checkout answers rev-parse with HEAD_SHA: a checkout at another commit is refused.
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: commit: the checkout is at ${HEAD_SHA}, not at ${sha}\n`);
    expect(lines[1]).toContain(`.git ${sha}`);
    expect(step.gh.requests.map((q) => q.path)).toEqual(["/app/installations/200003/access_tokens", `/repos/${OWNER}/${REPO}/commits/${sha}/check-runs`]);
    expect(lines.some((l) => l.startsWith("kubectl"))).toBe(false);
  });

  it("resolves a short commit to its full SHA through GitHub", async () => {
    step.gh.handle("repos/get-commit", ({ params }) =>
      params.ref === "0123456" ? { status: 200, body: { sha: HEAD_SHA } } : { status: 404, body: { message: "No commit found for SHA" } }, ["contents", "read"]);
    const { r, lines } = await deploy(newWorld(), { parameters: { commit: "0123456" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(step.gh.requests.map((q) => q.path).slice(0, 2)).toEqual(["/app/installations/200003/access_tokens", `/repos/${OWNER}/${REPO}/commits/0123456`]);
    expect(step.gh.deployments(OWNER, REPO).at(-1)!.sha).toBe(HEAD_SHA);
    expect(lines[1]).toContain(`.git ${HEAD_SHA}`);
    expect(r.outputs.commit).toBe(HEAD_SHA);
  });

  it("stops before the cluster when the app has no installation token for the repository", async () => {
    const { r, lines } = await deploy(newWorld(), { env: { GITHUB_INSTALLATION_ID: "999999" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ERROR: github: no read-only installation token for ${OWNER}/${REPO}\n`);
    expect(lines).toEqual([]);
    expect(r.outputs).toEqual({});
  });

  it("stops before the cluster when GitHub has no such pull request", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { pr: "43", ns: "impl-pr-43", release: "example-app-pr-43", host: "pr-43.preview.example.com" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ERROR: pr: cannot read pull request #43 of ${OWNER}/${REPO}\n`);
    expect(lines).toEqual([]);
  });

  it("stops before the cluster when the commit cannot be fetched", async () => {
    const { r, lines } = await deploy(newWorld({ fetchFails: true }));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`ERROR: commit: cannot fetch ${HEAD_SHA} from ${OWNER}/${REPO}\n`);
    expect(lines.filter((l) => !l.startsWith("git"))).toEqual([]);
  });

  it("stops before the cluster when chartPath is no chart in the checkout", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { chartPath: "charts/missing" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: chartPath: charts/missing is not a chart directory (with Chart.yaml) in ${OWNER}/${REPO} at ${HEAD_SHA}\n`);
    expect(lines).toEqual(git);
  });

  it("takes valuesFile from the checkout's root before the chart's directory", async () => {
    const world = newWorld({ extraFiles: { "values-preview.yaml": "replicaCount: 1\n" } });
    const { r, lines } = await deploy(world);
    expect(r.code).toBe(0);
    expect(lines).toContain(helmUpgrade("<work>/checkout/charts/app", "<work>/checkout/values-preview.yaml"));
  });

  it("refuses a values file that leaves the checkout through a symlink", async () => {
    const world = newWorld({ extraFiles: { "preview.yaml": { symlink: "/etc/passwd" } } });
    const { r, lines } = await deploy(world, { parameters: { valuesFile: "preview.yaml" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: valuesFile: preview.yaml is neither in the root of ${OWNER}/${REPO} at ${HEAD_SHA} nor in the chart's directory\n`);
    expect(lines).toEqual(git);
  });

  it("refuses a chart with a symlink out of the repository, so the chart cannot read the pod's secrets", async () => {
    for (const target of [step.keyFile, "/var/run/secrets/kubernetes.io/serviceaccount/token", "../../../../etc/passwd"]) {
      const world = newWorld({ extraFiles: { "charts/app/files/key.pem": { symlink: target } } });
      const { r, lines } = await deploy(world);
      expect(r.code, target).toBe(1);
      expect(r.stderr, target).toBe("ERROR: chartPath: charts/app holds a symlink that leads out of the repository (files/key.pem); refusing it\n");
      expect(lines, target).toEqual(git);
    }
  });

  it("accepts a chart whose symlinks stay inside the repository", async () => {
    const world = newWorld({ extraFiles: { "shared/site.conf": "server {}\n", "charts/app/files/site.conf": { symlink: "../../../shared/site.conf" } } });
    const { r } = await deploy(world);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("pulls an oci:// chart at the version its reference names, values from the checkout or the chart", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { chartPath: "oci://ghcr.io/example-org/charts/app:0.1.0" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toEqual([
      ...git,
      "helm pull oci://ghcr.io/example-org/charts/app --version 0.1.0 --destination <work>/pulled --untar",
      `kubectl get namespace ${NS} -o json --ignore-not-found`,
      "kubectl create -f -",
      ...guardrailsAndChart("create"),
      helmUpgrade("<work>/pulled/app", "<work>/pulled/app/values-preview.yaml"),
      ...afterHelm,
    ]);
  });

  it("pulls an oci:// chart without a version from a registry with a port", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { chartPath: "oci://registry.local:5000/charts/app" } });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines).toContain("helm pull oci://registry.local:5000/charts/app --destination <work>/pulled --untar");
  });

  it("refuses a malformed oci:// reference before fetching anything", async () => {
    for (const chartPath of ["oci://registry.local", "oci://ghcr.io/charts/app:", "oci://ghcr.io/charts/..", "oci://ghcr.io//app"]) {
      const { r, lines } = await deploy(newWorld(), { parameters: { chartPath } });
      expect(r.code, chartPath).toBe(1);
      expect(r.stderr, chartPath).toBe("ERROR: chartPath: must be an oci:// reference: oci://<registry>/<path>/<chart>[:<version>]\n");
      expect(lines, chartPath).toEqual([]);
    }
  });

  it("refuses a namespace holding another repository's preview", async () => {
    const world = newWorld({ namespace: previewNamespace({ annotations: { "implementation-dag/repository": "other-org/other-app" } }) });
    const { r, lines } = await deploy(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} holds the preview of other-org/other-app, not of ${OWNER}/${REPO}; refusing to replace it\n`);
    expect(lines.at(-1)).toBe(`kubectl get namespace ${NS} -o json --ignore-not-found`);
  });

  it("refuses a host that is not the namespace's preview host", async () => {
    const { r, lines } = await deploy(newWorld(), { parameters: { host: "pr-43.preview.example.com" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("ERROR: host: must be the preview's host <id>.<domain>");
    expect(lines).toEqual([]);
  });

  it("reuses its own preview whatever the case its repository was recorded in (GitHub names are case-insensitive)", async () => {
    const world = newWorld({ namespace: previewNamespace({ annotations: { "implementation-dag/repository": `${OWNER.toUpperCase()}/${REPO}` } }) });
    const { r } = await deploy(world, { parameters: { owner: "Example-Org" } });
    expect(r.stderr).not.toContain("ERROR");
    expect(r.code).toBe(0);
  });

  it("still refuses another repository's preview when the owner's case differs", async () => {
    const world = newWorld({ namespace: previewNamespace({ annotations: { "implementation-dag/repository": "other-org/other-app" } }) });
    const { r } = await deploy(world, { parameters: { owner: "Example-Org" } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("holds the preview of other-org/other-app, not of Example-Org/");
  });

  it("records the repository lowercased on a namespace it creates", async () => {
    const world = newWorld();
    const { r } = await deploy(world, { parameters: { owner: "Example-Org" } });
    expect(r.code).toBe(0);
    const ns = world.applied.find((o) => o.kind === "Namespace") as { metadata: { annotations: Record<string, string> } };
    expect(ns.metadata.annotations["implementation-dag/repository"]).toBe(`example-org/${REPO.toLowerCase()}`);
  });

  it("refuses to adopt a preview without an instance label that records no repository", async () => {
    const unclaimed = previewNamespace({ instance: null });
    delete (unclaimed.metadata as { annotations?: object }).annotations;
    const world = newWorld({ namespace: unclaimed });
    const { r, lines } = await deploy(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} has no implementation-dag/instance label and records no repository; refusing to adopt it\n`);
    expect(lines.at(-1)).toBe(`kubectl get namespace ${NS} -o json --ignore-not-found`);
    expect(world.applied).toEqual([]);
  });

  it("refuses to adopt a preview without an instance label that records another repository", async () => {
    const world = newWorld({ namespace: previewNamespace({ instance: null, annotations: { "implementation-dag/repository": "other-org/other-app" } }) });
    const { r } = await deploy(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`holds the preview of other-org/other-app, not of ${OWNER}/${REPO}`);
    expect(world.applied).toEqual([]);
  });

  it("claims a reused preview namespace of this instance for the repository when no repository claimed it yet", async () => {
    const unclaimed = previewNamespace();
    delete (unclaimed.metadata as { annotations?: object }).annotations;
    const world = newWorld({ namespace: unclaimed });
    const { r, lines } = await deploy(world);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines[git.length + 2]).toBe(`kubectl annotate namespace ${NS} implementation-dag/repository=${OWNER}/${REPO}`);
    expect(world.namespace!.metadata).toMatchObject({ annotations: { "implementation-dag/repository": `${OWNER}/${REPO}` } });
  });

  it("refuses a preview namespace that is being deleted", async () => {
    const world = newWorld({ namespace: previewNamespace({ phase: "Terminating" }) });
    const { r } = await deploy(world);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ERROR: ns: namespace ${NS} is being deleted; run again once it is gone\n`);
    expect(world.applied).toEqual([]);
  });

  it("leaves no checkout behind, after success or failure", async () => {
    const { r } = await deploy(newWorld());
    expect(r.code).toBe(0);
    expect(filesIn(r.root).filter((f) => f.startsWith("deploy."))).toEqual([]);
    expect(existsSync(path.join(r.root, "outputs", "urls.json"))).toBe(true);
    const failed = await deploy(newWorld({ helmFails: true }));
    expect(failed.r.code).toBe(1);
    expect(filesIn(failed.r.root).filter((f) => f.startsWith("deploy."))).toEqual([]);
  });
});

/**
 * The stack configuration: one zod schema that is the single source of every key, its type, its
 * default and its description (the README's config reference is generated from it).
 *
 * Pulumi stores config as flat `implementation-dag:<key>` strings, objects JSON-encoded. `parseConfig`
 * takes that map, so the offline render and `pulumi up` read config the same way and fail with the
 * same message: every bad key and why, not only the first.
 */
import { z } from "zod";
import { IMAGE_TAG, IMAGE_TAG_PATTERN, imageTagForCommit, NAMING_SCHEMES } from "./names";
import { ACCEPTANCE_BUDGET_SECONDS, configDescription, ruleRefinement } from "./parameters";

/** The Pulumi project name; config keys are `implementation-dag:<key>`. */
export const PROJECT = "implementation-dag";

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
/** An image reference pinned by a tag other than `latest` or by a sha256 digest. */
const PINNED_IMAGE =
  /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$/;
const OBJECT_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;
const HELM_DURATION = /^([0-9]+h)?([0-9]+m)?([0-9]+s)?$/;
const CRON = /^(\S+\s+){4}\S+$/;

const dnsLabel = (what: string) =>
  z.string().regex(DNS_LABEL, `${what} must be a DNS-1123 label (lowercase letters, digits, '-', at most 63)`);
const image = z
  .string()
  .regex(PINNED_IMAGE, "must be an image reference pinned by a tag (not 'latest') or an @sha256 digest")
  .refine((s) => /:[^/]+$|@sha256:/.test(s), "must carry a tag or a digest");
const quantity = z.string().regex(QUANTITY, "must be a Kubernetes quantity such as 100m, 2 or 256Mi");
const resources = z
  .object({ cpu: quantity, memory: quantity })
  .strict();
const url = z.string().regex(/^https?:\/\/[^\s{}]+$/, "must be an http(s) URL");
const optionalUrl = z.string().regex(/^(https?:\/\/[^\s{}]+)?$/, "must be empty or an http(s) URL");

/** The default image of every step: Alpine with bash, curl, jq, openssl, git, kubectl and helm. */
export const DEFAULT_STEP_IMAGE = "docker.io/alpine/k8s:1.32.3";

const imagesSchema = z
  .object({
    setParams: image.default(DEFAULT_STEP_IMAGE).describe("Image of the set-params step."),
    deploy: image.default(DEFAULT_STEP_IMAGE).describe("Image of the deploy steps and of preview-evidence (needs kubectl, helm, git, curl, jq)."),
    acceptance: image.default(DEFAULT_STEP_IMAGE).describe("Image of the acceptance step (needs curl and jq)."),
    approve: image.default(DEFAULT_STEP_IMAGE).describe("Image of the approve step (needs curl, jq, openssl)."),
    cleanup: image.default(DEFAULT_STEP_IMAGE).describe("Image of the cleanup exit handler (needs kubectl, helm)."),
    sweeper: image.default(DEFAULT_STEP_IMAGE).describe("Image of the TTL sweeper CronWorkflow (needs kubectl, helm, jq)."),
  })
  .strict();

/** A GitHub App's name as the agent template knows it (e.g. `rex`, or the platform's `5DLabs-Rex`). */
const githubAppName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/, "must be a GitHub App name: letters, digits, '-', '_', at most 63 characters");

const agentSchema = z
  .object({
    templateName: z.string().regex(OBJECT_NAME, "must be a Kubernetes object name (DNS-1123 subdomain)").default("coderun-template")
      .describe("The agent WorkflowTemplate: each agent runs as a child Workflow of it (`workflowTemplateRef`)."),
    clusterScope: z.boolean().default(false).describe("Whether the agent template is a ClusterWorkflowTemplate."),
    serviceAccountName: z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$/, "must be empty or a DNS-1123 label").default("")
      .describe("Service account the agents' child Workflows run as; empty: the agent template's own (never the pipeline's)."),
    githubApps: z
      .object({
        rex: githubAppName.default("rex").describe("`github-app` of the implement agent."),
        clippy: githubAppName.default("clippy").describe("`github-app` of the clippy-format agent."),
        qa: githubAppName.default("qa").describe("`github-app` of the qa-testing agent."),
      })
      .strict()
      .default({ rex: "rex", clippy: "clippy", qa: "qa" })
      .describe("The `github-app` each agent's child Workflow is given."),
    model: z.string().superRefine(ruleRefinement("model"))
      .default("claude-sonnet-4-20250514").describe("Default of the `model` workflow parameter."),
    service: z.string().superRefine(ruleRefinement("service")).default("")
      .describe("Default of the `service` workflow parameter (`service-id`); empty: the repository's name as a DNS label."),
    docsRepository: z.string().superRefine(ruleRefinement("docsRepository")).default("")
      .describe("Default of `docsRepository` (`docs-repository-url`): <owner>/<repo>; empty: the pull request's repository."),
    docsProjectDirectory: z.string().superRefine(ruleRefinement("docsProjectDirectory")).default("docs").describe("Default of `docsProjectDirectory` (`docs-project-directory`)."),
    workingDirectory: z.string().superRefine(ruleRefinement("workingDirectory")).default(".").describe("Default of `workingDirectory` (`working-directory`)."),
    docsBranch: z.string().superRefine(ruleRefinement("docsBranch"))
      .default("main").describe("Default of `docsBranch` (`docs-branch`)."),
    continueSession: z.boolean().default(false).describe("Default of `continueSession` (`continue-session`)."),
    overwriteMemory: z.boolean().default(false).describe("Default of `overwriteMemory` (`overwrite-memory`)."),
  })
  .strict();

/**
 * The acceptance settings a repository may set too, each with its global default. Each rule is the
 * table's (components/parameters.ts, via `ruleRefinement`), the one the step scripts (set-params,
 * acceptance) apply through lib/parameter-rules.sh. A repository's entry takes the same rules without
 * the defaults ({@link repositoryAcceptanceSchema}).
 */
const acceptanceSettings = {
  minSuccessPct: z.number().superRefine(ruleRefinement("min_success_pct"))
    .default(95).describe(configDescription("min_success_pct")),
  maxP95Ms: z.number().superRefine(ruleRefinement("max_p95_ms")).default(2000).describe(configDescription("max_p95_ms")),
  requestsPerEndpoint: z.number().superRefine(ruleRefinement("requests_per_endpoint")).default(10).describe(configDescription("requests_per_endpoint")),
  concurrency: z.number().superRefine(ruleRefinement("concurrency")).default(4).describe(configDescription("concurrency")),
  timeoutMs: z.number().superRefine(ruleRefinement("timeout_ms")).default(10000).describe(configDescription("timeout_ms")),
  readyConsecutive: z.number().superRefine(ruleRefinement("ready_consecutive")).default(3)
    .describe(configDescription("ready_consecutive")),
  readyTimeoutSeconds: z.number().superRefine(ruleRefinement("ready_timeout_s")).default(120)
    .describe(configDescription("ready_timeout_s")),
  judge: z.string().superRefine(ruleRefinement("judge")).default("total")
    .describe(configDescription("judge")),
  maxP99Ms: z.number().superRefine(ruleRefinement("max_p99_ms")).default(0).describe(configDescription("max_p99_ms")),
  expect: z.string().superRefine(ruleRefinement("expect")).default("2xx,3xx")
    .describe(configDescription("expect")),
  paths: z.record(z.string(), z.string()).superRefine(ruleRefinement("paths"))
    .default({}).describe(configDescription("paths")),
  insecure: z.boolean().superRefine(ruleRefinement("insecure")).default(false).describe(configDescription("insecure")),
  rate: z.number().superRefine(ruleRefinement("rate")).default(0)
    .describe(configDescription("rate")),
  durationSeconds: z.number().superRefine(ruleRefinement("duration_s")).default(10).describe(configDescription("duration_s")),
};
type AcceptanceSettings = typeof acceptanceSettings;
const acceptanceSettingsSchema = z.object(acceptanceSettings);

/**
 * One repository's acceptance settings: any of the global keys (not `connectTo`, the cluster's),
 * with the global rules; a key left out takes the global value.
 */
const repositoryAcceptanceSchema = z
  .object(
    Object.fromEntries(Object.entries(acceptanceSettings).map(([key, schema]) => [key, schema.unwrap().optional()])) as {
      [K in keyof AcceptanceSettings]: z.ZodOptional<ReturnType<AcceptanceSettings[K]["unwrap"]>>;
    },
  )
  .strict();

/**
 * The acceptance step's budget rule, zod's copy of the steps' `acceptance_budget_problem`
 * (lib/acceptance-budget.sh; one test table holds both): readiness (`readyTimeoutSeconds`, unless
 * `readyConsecutive` is 0) plus the measurement's worst case (closed model:
 * ceil(requestsPerEndpoint / concurrency) × timeoutMs; open model: durationSeconds + timeoutMs) must
 * fit in {@link ACCEPTANCE_BUDGET_SECONDS}, and an open-model schedule must hold a request. Returns
 * what breaks it, or undefined.
 */
function acceptanceBudgetProblem(a: z.infer<typeof acceptanceSettingsSchema>): string | undefined {
  const readyMs = a.readyConsecutive > 0 ? a.readyTimeoutSeconds * 1000 : 0;
  const open = a.rate > 0;
  if (open && Math.floor((Math.round(a.rate * 1000) * a.durationSeconds) / 1000) < 1) {
    return `rate ${a.rate} per second for ${a.durationSeconds} s schedules no request`;
  }
  const worstMs = open ? a.durationSeconds * 1000 + a.timeoutMs : Math.ceil(a.requestsPerEndpoint / a.concurrency) * a.timeoutMs;
  if (readyMs + worstMs <= ACCEPTANCE_BUDGET_SECONDS * 1000) return undefined;
  const measured = open ? `a ${a.durationSeconds} s schedule plus timeoutMs ${a.timeoutMs}`
    : `${a.requestsPerEndpoint} requests at concurrency ${a.concurrency} with timeoutMs ${a.timeoutMs}`;
  return `${measured} may take ${Math.floor(worstMs / 1000)} s after up to ${readyMs / 1000} s of readiness; acceptance must finish within ${ACCEPTANCE_BUDGET_SECONDS} s (lower readyTimeoutSeconds or timeoutMs, or send fewer requests)`;
}

/** A GitHub `owner/repo` (the rules of set-params: lib/rules.sh's is_github_owner and is_github_repo). */
const GITHUB_REPOSITORY = /^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?\/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/;

const acceptanceSchema = z
  .object({
    ...acceptanceSettings,
    connectTo: z.string().superRefine(ruleRefinement("connect_to"))
      .default("")
      .describe(configDescription("connect_to")),
    repositories: z.record(z.string(), repositoryAcceptanceSchema).default({})
      .describe("Settings per repository, keyed by `owner/repo` (matched case-insensitively), e.g. {\"example-org/api\": {\"maxP95Ms\": 500, \"paths\": {\"/healthz\": \"200\"}}}: any key above but `connectTo`, each left out taking the global value. Resolved by set-params for the run's repository; a parameter given at submit still wins."),
  })
  .strict()
  .superRefine((acceptance, ctx) => {
    // The budget of settings whose every value holds its own rule (zod refines an object even when a
    // value of it is bad; that value is reported already).
    const budgetProblem = (settings: typeof acceptance) =>
      acceptanceSettingsSchema.safeParse(settings).success ? acceptanceBudgetProblem(settings) : undefined;
    const global = budgetProblem(acceptance);
    if (global !== undefined) ctx.addIssue({ code: "custom", path: [], message: global });
    for (const [key, settings] of Object.entries(acceptance.repositories)) {
      const problem = global === undefined ? budgetProblem({ ...acceptance, ...settings }) : undefined;
      if (problem !== undefined) ctx.addIssue({ code: "custom", path: ["repositories", key], message: `with the global settings: ${problem}` });
    }
    const seen = new Map<string, string>();
    for (const key of Object.keys(acceptance.repositories)) {
      if (!GITHUB_REPOSITORY.test(key) || key.split("/")[0].includes("--")) {
        ctx.addIssue({ code: "custom", path: ["repositories", key], message: "must be keyed by a GitHub <owner>/<repo>" });
        continue;
      }
      const folded = key.toLowerCase();
      const earlier = seen.get(folded);
      if (earlier !== undefined) {
        ctx.addIssue({ code: "custom", path: ["repositories", key], message: `is ${earlier} again (repositories match case-insensitively)` });
      }
      seen.set(folded, key);
    }
  });

/** The steps the workflow's deadline must cover, each by its own deadline key (in run order). */
export const BUDGETED_DEADLINES = [
  "setParamsSeconds", "implementSeconds", "clippyFormatSeconds", "qaTestingSeconds", "deploySeconds", "acceptanceSeconds", "evidenceSeconds", "approveSeconds",
] as const;

const deadlinesSchema = z
  .object({
    workflowSeconds: z.number().int().positive().default(9000)
      .describe("The workflow's activeDeadlineSeconds: at least the sum of every step's deadline (set-params, the three agents, deploy, acceptance, preview-evidence, approve)."),
    setParamsSeconds: z.number().int().positive().default(120).describe("Deadline of set-params."),
    implementSeconds: z.number().int().min(300).default(2400).describe("Deadline of the implement agent (Rex): its child Workflow stops 60 s before."),
    clippyFormatSeconds: z.number().int().min(300).default(1800).describe("Deadline of the clippy-format agent (Clippy): its child Workflow stops 60 s before."),
    qaTestingSeconds: z.number().int().min(300).default(2400).describe("Deadline of the qa-testing agent (QA): its child Workflow stops 60 s before."),
    deploySeconds: z.number().int().positive().default(1200)
      .describe("Deadline of deploy: the wait for the commit's build (`deploy.build.timeoutSeconds`) plus the Helm timeout plus room for the checkout, scheduling and evidence."),
    acceptanceSeconds: z.number().int().positive().default(300).describe("Deadline of acceptance: the seed's 3 minutes plus room for scheduling."),
    evidenceSeconds: z.number().int().positive().default(120).describe("Deadline of preview-evidence (the preview's pods, events and logs after acceptance)."),
    approveSeconds: z.number().int().positive().default(180).describe("Deadline of approve."),
    cleanupSeconds: z.number().int().positive().default(300).describe("Deadline of the cleanup exit handler."),
  })
  .strict()
  .superRefine((d, ctx) => {
    const sum = BUDGETED_DEADLINES.reduce((total, key) => total + d[key], 0);
    if (d.workflowSeconds < sum) {
      ctx.addIssue({
        code: "custom",
        path: ["workflowSeconds"],
        message: `must be at least the sum of the steps' deadlines (${BUDGETED_DEADLINES.join(" + ")} = ${sum}); got ${d.workflowSeconds}`,
      });
    }
  });

const stepResourcesSchema = z
  .object({
    requests: resources.default({ cpu: "100m", memory: "256Mi" }).describe("Requests of every step container."),
    limits: resources.default({ cpu: "2", memory: "4Gi" }).describe("Limits of every step container."),
  })
  .strict();

const serviceAccountsSchema = z
  .object({
    steps: dnsLabel("serviceAccounts.steps").default("implementation-dag").describe("Service account of the pipeline steps."),
    executor: dnsLabel("serviceAccounts.executor").default("implementation-dag-executor")
      .describe("Service account of Argo's executor in steps that run without a token (only reports task results)."),
    sweeper: dnsLabel("serviceAccounts.sweeper").default("implementation-dag-sweeper").describe("Service account of the TTL sweeper."),
    agents: dnsLabel("serviceAccounts.agents").default("implementation-dag-agents")
      .describe("Service account of the agent steps: the only step account that may create Workflows (the agents' child Workflows, in the workflows namespace)."),
  })
  .strict();

const retentionSchema = z
  .object({
    secondsAfterSuccess: z.number().int().min(0).default(86400).describe("ttlStrategy: keep a succeeded workflow this long."),
    secondsAfterFailure: z.number().int().min(0).default(259200).describe("ttlStrategy: keep a failed workflow this long."),
    podGC: z.enum(["OnPodCompletion", "OnPodSuccess", "OnWorkflowCompletion", "OnWorkflowSuccess"]).default("OnPodSuccess")
      .describe("podGC strategy of the workflow's pods."),
  })
  .strict();

const ttlSchema = z
  .object({
    hours: z.number().int().min(1).max(720).default(48).describe("A successful preview expires this many hours after its last successful run."),
    schedule: z.string().regex(CRON, "must be a five-field cron expression").default("*/30 * * * *").describe("Schedule of the TTL sweeper."),
    maxAgeHours: z.number().int().min(1).default(168).describe("A preview without expiry (orphan of a crashed run) older than this is deleted."),
    startingDeadlineSeconds: z.number().int().min(0).default(300).describe("The sweeper's startingDeadlineSeconds."),
    terminatingLimitMinutes: z.number().int().min(1).default(30).describe("A namespace Terminating longer than this is reported by the sweeper."),
  })
  .strict();

const quotaSchema = z
  .object({
    requestsCpu: quantity.default("2").describe("ResourceQuota requests.cpu of a preview namespace."),
    requestsMemory: quantity.default("4Gi").describe("ResourceQuota requests.memory."),
    limitsCpu: quantity.default("4").describe("ResourceQuota limits.cpu."),
    limitsMemory: quantity.default("8Gi").describe("ResourceQuota limits.memory."),
    pods: z.number().int().min(1).default(20).describe("ResourceQuota pods."),
    services: z.number().int().min(1).default(10).describe("ResourceQuota services."),
    persistentVolumeClaims: z.number().int().min(0).default(4).describe("ResourceQuota persistentvolumeclaims."),
    requestsStorage: quantity.default("20Gi").describe("ResourceQuota requests.storage: the storage all of a preview's PVCs may request together (LoadBalancer and NodePort Services are always 0)."),
  })
  .strict();

/** A container's resources in the LimitRange: cpu, memory and ephemeral storage (its default given). */
const containerResources = (ephemeralStorage: string) =>
  z.object({ cpu: quantity, memory: quantity, ephemeralStorage: quantity.default(ephemeralStorage) }).strict();

const limitRangeSchema = z
  .object({
    defaultRequest: containerResources("64Mi").default({ cpu: "50m", memory: "64Mi", ephemeralStorage: "64Mi" })
      .describe("Default request per container (ephemeralStorage: its ephemeral-storage)."),
    default: containerResources("1Gi").default({ cpu: "500m", memory: "512Mi", ephemeralStorage: "1Gi" })
      .describe("Default limit per container (ephemeralStorage: its ephemeral-storage)."),
    max: containerResources("2Gi").default({ cpu: "2", memory: "2Gi", ephemeralStorage: "2Gi" })
      .describe("Maximum limit per container (ephemeralStorage: its ephemeral-storage, so emptyDirs and logs cannot fill a node)."),
  })
  .strict();

/** An IPv4 CIDR (a.b.c.d/n) or an IPv6 CIDR (hex groups with `::`, /n). */
const IPV4_CIDR = /^((25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\/([0-9]|[12][0-9]|3[0-2])$/;
const IPV6_CIDR = /^(?=.*:)[0-9a-f:]{2,39}\/([0-9]|[1-9][0-9]|1[01][0-9]|12[0-8])$/;
const cidr = z.string().refine((s) => IPV4_CIDR.test(s) || IPV6_CIDR.test(s), "must be an IPv4 or IPv6 CIDR such as 10.0.0.0/16 (lowercase hex for IPv6)");
const egressPort = z
  .object({
    port: z.number().int().min(1).max(65535).describe("The destination port."),
    endPort: z.number().int().min(1).max(65535).optional().describe("With it, the range port..endPort."),
    protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP").describe("TCP (default), UDP or SCTP."),
  })
  .strict()
  .refine((p) => p.endPort === undefined || p.endPort >= p.port, { message: "endPort must not be below port", path: ["endPort"] });
const LABEL_KEY = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/;
const podSelector = z
  .record(z.string().regex(LABEL_KEY, "must be a label key"), z.string().regex(LABEL_VALUE, "must be a label value"))
  .describe("Labels the destination pods carry (matchLabels); empty or absent: every pod of the namespace.");

/** One destination previews may reach: a CIDR with ports, or a namespace (and pods in it), optionally on ports. */
const egressRuleSchema = z.union([
  z.object({
    cidr: cidr.describe("Destination addresses."),
    except: z.array(cidr).default([]).describe("Addresses inside `cidr` left out."),
    ports: z.array(egressPort).min(1, "a CIDR destination must name its ports").describe("Destination ports (at least one)."),
  }).strict(),
  z.object({
    namespace: dnsLabel("egress[].namespace").describe("Destination namespace (by its kubernetes.io/metadata.name label)."),
    podSelector: podSelector.optional(),
    ports: z.array(egressPort).default([]).describe("Destination ports; empty: every port."),
  }).strict(),
]);

/** A check run's name or a commit status's context: what the build's CI reports itself as. */
const BUILD_NAME = /^[A-Za-z0-9][A-Za-z0-9 ._\/:()+-]{0,99}$/;

/**
 * The build deploy waits for before helm runs: the commit's image must exist before the chart asks
 * for it (lib/github.sh reads it with the QA app's read-only token).
 */
const buildSchema = z
  .object({
    kind: z.enum(["check-run", "status", "none"]).default("check-run")
      .describe("What the commit's build reports: `check-run` (a check run, e.g. a GitHub Actions job, read with `checks: read`), `status` (a commit status context, read with `statuses: read`) or `none` (do not wait: the image tag must exist when deploy runs)."),
    name: z.string().regex(BUILD_NAME, "must be a check run name or status context: letters, digits, ' ', '.', '_', '/', ':', '(', ')', '+', '-', at most 100, starting with a letter or digit")
      .default("build").describe("The check run's name (exact) or the status's context."),
    timeoutSeconds: z.number().int().min(1).max(86400).default(600)
      .describe("How long deploy waits for a successful build; it fails when none succeeded by then. With `deploy.helmTimeout` and 60 s of room it must fit in `deadlines.deploySeconds`."),
    pollSeconds: z.number().int().min(1).max(300).default(15).describe("Seconds between two looks at the build."),
  })
  .strict()
  .refine((b) => b.pollSeconds <= b.timeoutSeconds, { message: "must not exceed timeoutSeconds", path: ["pollSeconds"] });

/** Seconds of deploy's deadline kept beyond the build wait and helm's timeout: the checkout, the namespace, evidence. */
export const DEPLOY_ROOM_SECONDS = 60;

/** Seconds of a helm duration such as 5m or 1h30m (deploy.helmTimeout's grammar). */
export function helmDurationSeconds(duration: string): number {
  const m = /^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$/.exec(duration);
  return m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
}

const deploySchema = z
  .object({
    runner: z.enum(["pod", "docsrun"]).default("pod").describe("How deploy runs: `pod` (a script step) or `docsrun` (the seed's DocsRun CR)."),
    helmTimeout: z.string().regex(HELM_DURATION, "must be a Go duration such as 5m or 90s").refine((s) => s !== "", "must not be empty")
      .default("5m").describe("`helm upgrade --wait --timeout`."),
    ingressNamespace: dnsLabel("deploy.ingressNamespace").default("ingress-nginx").describe("Namespace of the ingress controller allowed into previews."),
    ingressClass: z.string().regex(OBJECT_NAME, "must be a Kubernetes object name").default("nginx")
      .describe("IngressClass the previews are served through: deploy gives it to the chart as `ingress.className` (`npm run doctor` checks it exists)."),
    imageTagPattern: z.string()
      .refine((p) => IMAGE_TAG_PATTERN.test(p) && IMAGE_TAG.test(imageTagForCommit(p, "0".repeat(40))),
        "must be letters, digits, '_', '.', '-' with at least one placeholder {sha}, {sha12} or {sha7}, making a valid image tag (at most 128 characters, not starting with '.' or '-')")
      .default("sha-{sha12}")
      .describe("The image tag deployed when the `imageTag` parameter is empty, made from the deployed commit: `{sha}` (40 hex), `{sha12}`, `{sha7}` (its first hex digits). Such a tag names one build, so it is pulled `IfNotPresent`; an `imageTag` given at submit is pulled `Always`."),
    build: buildSchema.default(buildSchema.parse({})),
    docsrun: z
      .object({
        apiVersion: z.string().default("taskmaster.io/v1").describe("apiVersion of the DocsRun CR."),
        statusField: z.string().regex(/^[a-zA-Z][a-zA-Z0-9.]*$/, "must be a dotted field path").default("status.phase").describe("Status field judged."),
        successValues: z.array(z.string().regex(/^[A-Za-z0-9]+$/)).min(1).default(["Succeeded"]).describe("Values meaning success."),
        failureValues: z.array(z.string().regex(/^[A-Za-z0-9]+$/)).min(1).default(["Failed", "Error"]).describe("Values meaning failure."),
      })
      .strict()
      .default({ apiVersion: "taskmaster.io/v1", statusField: "status.phase", successValues: ["Succeeded"], failureValues: ["Failed", "Error"] }),
  })
  .strict();

/**
 * What preview-evidence keeps of the preview after acceptance: the last lines of every container's
 * log, each log bounded in bytes too (a single line can be huge).
 */
const evidenceSchema = z
  .object({
    logLines: z.number().int().min(1).max(10000).default(200)
      .describe("Last lines of each container's log preview-evidence archives (kubectl logs --tail)."),
    logBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(262144)
      .describe("At most this many bytes of each container's log (kubectl logs --limit-bytes)."),
  })
  .strict();

const appIds = z
  .object({
    appId: z.string().regex(/^([0-9]+|Iv[0-9A-Za-z.]+)$/, "must be a numeric app id or a client id").describe("The app's id or client id."),
    installationId: z
      .string()
      .regex(/^([0-9]+)?$/, "must be a numeric installation id, or empty")
      .default("")
      .describe("Optional override: the installation every token is minted from (then all served repositories sit under its account). Empty: each repository's installation is looked up from the app, so one app serves several owners."),
  })
  .strict();

const githubSchema = z
  .object({
    apiUrl: url.default("https://api.github.com").describe("GitHub API base URL (GitHub Enterprise Server: https://HOST/api/v3)."),
    graphqlUrl: url.default("https://api.github.com/graphql").describe("GitHub GraphQL URL."),
    webUrl: url.default("https://github.com").describe("GitHub web URL, for links."),
    apps: z
      .object({ rex: appIds, clippy: appIds, qa: appIds })
      .strict()
      .describe("App ids (and optional installation ids) of the three apps; the private keys are secret config (`rexPrivateKey`, ...)."),
    environmentPrefix: z.string().regex(/^[a-z0-9-]*$/).default("pr-").describe("Prefix of the GitHub deployment environment (`pr-<N>`)."),
    hardenRepositories: z.boolean().nullable().default(null)
      .describe("Repository hardening with @pulumi/github (a required human review, no auto-merge). Absent (null): on when repositories are listed; false turns it off, shown as a warning in the outputs and `npm start`."),
    repositories: z
      .array(z.object({
        owner: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,37}[A-Za-z0-9])?$/, "must be a GitHub owner name"),
        repo: z.string().regex(/^(?!\.\.?$)[A-Za-z0-9._-]{1,100}$/, "must be a GitHub repository name"),
      }).strict())
      .default([])
      .describe("Repositories the pipeline serves (hardened unless hardenRepositories is false)."),
  })
  .strict()
  .superRefine((github, ctx) => {
    if (github.hardenRepositories && github.repositories.length === 0) {
      ctx.addIssue({ code: "custom", path: ["repositories"], message: "must list the repositories to harden when hardenRepositories is true" });
    }
    const seen = new Set<string>();
    github.repositories.forEach((r, i) => {
      const full = `${r.owner}/${r.repo}`.toLowerCase();
      if (seen.has(full)) ctx.addIssue({ code: "custom", path: ["repositories", i], message: `lists ${r.owner}/${r.repo} twice` });
      seen.add(full);
    });
  });

const linksSchema = z
  .object({
    argoUiUrl: optionalUrl.default("").describe("Base URL of the Argo UI, for links in the review."),
    artifactsUrl: optionalUrl.default("").describe("Base URL under which archived artifacts can be browsed."),
  })
  .strict();

const artifactRepositorySchema = z
  .object({
    configMap: z.string().default("artifact-repositories").describe("ConfigMap holding the artifact repositories."),
    key: z.string().default("default-v1").describe("Key of the repository in it."),
    storage: z.enum(["s3", "gcs", "oss", "none"]).default("s3")
      .describe("Storage kind of that repository, for key-only artifacts (s3 includes MinIO); none (e.g. Azure, whose key-only form needs the container in the workflow): keys follow the repository's keyFormat and the review links only the workflow."),
    keyPrefix: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/, "must be a relative key prefix without '.' or '..' segments")
      .default("implementation-dag").describe("Prefix of every archived artifact's key: <prefix>/<owner>/<repo>/pr-<N>/<workflow>/<step>/<artifact>.tgz."),
  })
  .strict();

/**
 * The egress of acceptance pods (NetworkPolicy implementation-dag-acceptance in the workflows
 * namespace): DNS, the ingress controller, and what Argo's executor in the same pod must reach.
 */
const acceptanceNetworkSchema = z
  .object({
    enabled: z.boolean().default(true)
      .describe("Render the NetworkPolicy that limits acceptance pods' egress to DNS, the ingress controller (namespace `deploy.ingressNamespace`) and `executorEgress`. Off: acceptance may reach anything the cluster lets pods reach."),
    ingressPodSelector: podSelector.default({ "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller" })
      .describe("Labels of the ingress controller's pods in `deploy.ingressNamespace` (matchLabels; `{}`: every pod of that namespace). Defaults to ingress-nginx's controller."),
    ingressPorts: z.array(egressPort).min(1).default([{ port: 80, protocol: "TCP" }, { port: 443, protocol: "TCP" }])
      .describe("Ports of the controller's pods acceptance may reach (the pods' ports, which a Service's port is translated to), as `{port, endPort?, protocol?}`."),
    executorEgress: z.array(egressRuleSchema).default([])
      .describe("What Argo's executor (the init and wait containers of the acceptance pod, which share its network) must reach: the Kubernetes API server's addresses and port (e.g. `{cidr: 10.0.0.1/32, ports: [{port: 6443}]}`) and the artifact repository (a CIDR, or `{namespace, podSelector?, ports?}` for an in-cluster one). Each entry as in `egress`. Empty: nothing more, which a cluster that enforces NetworkPolicy for the API server will need filled in."),
  })
  .strict();

/** A GitHub App's slug: its pushes come from the login `<slug>[bot]`. */
const appSlug = z.string().regex(/^([a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)?$/, "must be empty or a GitHub App slug: lowercase letters, digits and '-' (as in https://github.com/apps/<slug>)");

/**
 * The Argo Events trigger (components/trigger.ts): a Sensor that starts runs from pull request
 * webhooks. Off unless `enabled`; the cross-key rules (repositories listed, the agents' slugs known)
 * are checked at the config's top level, where `github` is visible.
 */
const triggerSchema = z
  .object({
    enabled: z.boolean().default(false)
      .describe("Render the Argo Events Sensor that submits implementation-dag for pull requests of `github.repositories` and preview-teardown when they close (docs/trigger.md), its service account, Role and admission policy. Needs Argo Events and a GitHub EventSource in `trigger.namespace`."),
    namespace: z.string().regex(/^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$/, "must be empty or a DNS-1123 label").default("")
      .describe("Namespace of the Sensor, its service account, the EventSource and the EventBus; empty: the workflows namespace (`namespace`). The Workflows are always created in `namespace`."),
    eventBusName: z.string().regex(OBJECT_NAME, "must be a Kubernetes object name").default("default").describe("The EventBus the Sensor reads."),
    eventSource: z
      .object({
        name: z.string().regex(OBJECT_NAME, "must be a Kubernetes object name").default("github").describe("The GitHub EventSource's name."),
        eventName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, "must be an EventSource event name (letters, digits, '.', '_', '-')").default("pull-requests")
          .describe("The key under the EventSource's `spec.github` that receives the `pull_request` webhooks."),
      })
      .strict()
      .default({ name: "github", eventName: "pull-requests" }),
    label: z.string().regex(/^([A-Za-z0-9][A-Za-z0-9 ._:/-]{0,49})?$/, "must be empty or a GitHub label of at most 50 letters, digits, spaces and . _ : / -")
      .default("")
      .describe("A label a pull request must carry to run: adding it starts a run, and a labelled PR runs again when reopened, marked ready or pushed to. Empty: every (non-draft) PR runs when opened, reopened, marked ready or pushed to."),
    agentAppSlugs: z
      .object({
        rex: appSlug.default("").describe("Slug of the implement agent's GitHub App."),
        clippy: appSlug.default("").describe("Slug of the clippy-format agent's GitHub App."),
        qa: appSlug.default("").describe("Slug of the qa-testing agent's GitHub App."),
      })
      .strict()
      .default({ rex: "", clippy: "", qa: "" })
      .describe("The agents' GitHub App slugs (https://github.com/apps/<slug>): pushes by `<slug>[bot]` start no run, or every agent commit would start a new one. Required when `enabled`."),
    serviceAccountName: dnsLabel("trigger.serviceAccountName").default("implementation-dag-trigger")
      .describe("Service account of the Sensor: creates Workflows of the two templates only (RBAC and an admission policy)."),
  })
  .strict();

/** The schema of the whole stack config (the part under `implementation-dag:`). */
export const configSchema = z
  .object({
    namespace: dnsLabel("namespace").default("argo").describe("Namespace the workflows run in."),
    naming: z.enum(NAMING_SCHEMES).default("repository")
      .describe("How previews are named: `repository` (namespace impl-<id>, host <id>.<domain>, id = <owner>-<repo>-<hash>-pr-<N>, so many repositories share the cluster) or `pr-number` (impl-pr-<N>, pr-<N>.<domain>: one repository per install)."),
    domain: z.string().superRefine(ruleRefinement("domain"))
      .default("preview.example.com")
      .describe("Default preview domain: previews are served at <id>.<domain> (see `naming`)."),
    chartPath: z.string().superRefine(ruleRefinement("chartPath"))
      .default("charts/app").describe("Default chart path in the repository, or an oci:// reference."),
    valuesFile: z.string().superRefine(ruleRefinement("valuesFile")).default("values-preview.yaml")
      .describe("Default values file, relative to the repository root or else to the chart."),
    images: imagesSchema.default(imagesSchema.parse({})),
    agent: agentSchema.default(agentSchema.parse({})),
    acceptance: acceptanceSchema.default(acceptanceSchema.parse({})),
    deadlines: deadlinesSchema.default(deadlinesSchema.parse({})),
    stepResources: stepResourcesSchema.default(stepResourcesSchema.parse({})),
    runAsUser: z.number().int().min(1).default(65532).describe("Non-zero uid (and gid) every step runs as."),
    serviceAccounts: serviceAccountsSchema.default(serviceAccountsSchema.parse({})),
    retention: retentionSchema.default(retentionSchema.parse({})),
    ttl: ttlSchema.default(ttlSchema.parse({})),
    quota: quotaSchema.default(quotaSchema.parse({})),
    limitRange: limitRangeSchema.default(limitRangeSchema.parse({})),
    egress: z.array(egressRuleSchema).default([])
      .describe("What previews may reach besides DNS and their own namespace (default deny): each entry either `{cidr, except?, ports}` or `{namespace, podSelector?, ports?}`, ports as `{port, endPort?, protocol?}`. Rendered into the NetworkPolicy allow-configured-egress of every preview."),
    deploy: deploySchema.default(deploySchema.parse({})),
    evidence: evidenceSchema.default(evidenceSchema.parse({})),
    acceptanceNetwork: acceptanceNetworkSchema.default(acceptanceNetworkSchema.parse({})),
    github: githubSchema,
    links: linksSchema.default(linksSchema.parse({})),
    artifactRepository: artifactRepositorySchema.default(artifactRepositorySchema.parse({})),
    trigger: triggerSchema.default(triggerSchema.parse({})),
  })
  .strict()
  .superRefine((cfg, ctx) => {
    if (cfg.trigger.enabled) {
      // The Sensor starts runs only for listed repositories; with none it would start nothing.
      if (cfg.github.repositories.length === 0) {
        ctx.addIssue({ code: "custom", path: ["github", "repositories"], message: "must list the repositories whose pull requests start runs when trigger.enabled is true" });
      }
      for (const agent of ["rex", "clippy", "qa"] as const) {
        if (cfg.trigger.agentAppSlugs[agent] === "") {
          ctx.addIssue({
            code: "custom",
            path: ["trigger", "agentAppSlugs", agent],
            message: `must name the ${agent} agent's GitHub App slug when trigger.enabled is true: its pushes (as <slug>[bot]) must not start runs`,
          });
        }
      }
    }
    const triggerAccount = cfg.trigger.serviceAccountName;
    if (cfg.trigger.enabled && (Object.values(cfg.serviceAccounts).includes(triggerAccount) || triggerAccount === cfg.agent.serviceAccountName)) {
      ctx.addIssue({ code: "custom", path: ["trigger", "serviceAccountName"], message: "must be an account of its own, not one of the pipeline's or the agents'" });
    }
    // deploy waits for the build, then runs helm: both inside the step's deadline.
    const wait = cfg.deploy.build.kind === "none" ? 0 : cfg.deploy.build.timeoutSeconds;
    const needed = wait + helmDurationSeconds(cfg.deploy.helmTimeout) + DEPLOY_ROOM_SECONDS;
    if (needed > cfg.deadlines.deploySeconds) {
      ctx.addIssue({
        code: "custom",
        path: ["deploy", "build", "timeoutSeconds"],
        message: `with deploy.helmTimeout (${cfg.deploy.helmTimeout}) and ${DEPLOY_ROOM_SECONDS} s of room needs ${needed} s, more than deadlines.deploySeconds (${cfg.deadlines.deploySeconds}): lower deploy.build.timeoutSeconds or deploy.helmTimeout, or raise deadlines.deploySeconds`,
      });
    }
    // An agent's child Workflow would run with that account's rights: never one of the pipeline's own.
    const ours = Object.values(cfg.serviceAccounts);
    if (cfg.agent.serviceAccountName !== "" && ours.includes(cfg.agent.serviceAccountName)) {
      ctx.addIssue({
        code: "custom",
        path: ["agent", "serviceAccountName"],
        message: `must not be one of the pipeline's own service accounts (${ours.join(", ")}); empty: the agent template's own`,
      });
    }
  });

/** The typed stack config, defaults applied. */
export type StackConfig = z.infer<typeof configSchema>;

/** Secret config keys: set with `pulumi config set --secret <key> < file`. */
export const SECRET_KEYS = ["rexPrivateKey", "clippyPrivateKey", "qaPrivateKey"] as const;

/** Bad stack config: `problems` lists every bad key with its rule; `message` lists them all. */
export class ConfigError extends Error {
  constructor(public readonly problems: string[]) {
    super(`Invalid stack config (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` + problems.map((p) => `  - ${p}`).join("\n"));
    this.name = "ConfigError";
  }
}

/** Decodes one flat Pulumi config value: objects, arrays, numbers and booleans are JSON. */
function decodeValue(raw: string): unknown {
  const t = raw.trim();
  if (/^[{[]/.test(t) || /^-?[0-9]+(\.[0-9]+)?$/.test(t) || t === "true" || t === "false") {
    try {
      return JSON.parse(t);
    } catch {
      return raw;
    }
  }
  return raw;
}

function keyOf(path: PropertyKey[]): string {
  return `${PROJECT}:${path.map(String).join(".")}`;
}

/**
 * Turns Pulumi's flat config map (`{"implementation-dag:domain": "...", ...}`; keys of other
 * namespaces are ignored) into the typed config, or throws one ConfigError naming every bad key.
 */
export function parseConfig(flat: Record<string, string>): StackConfig {
  const raw: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    if (!k.startsWith(`${PROJECT}:`)) continue;
    const key = k.slice(PROJECT.length + 1);
    if ((SECRET_KEYS as readonly string[]).includes(key)) continue;
    raw[key] = decodeValue(v);
  }
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => `${keyOf([...issue.path, k])}: is not a known key`).join("\n  - ");
    }
    return `${keyOf(issue.path)}: ${issue.message}`;
  });
  throw new ConfigError(problems);
}

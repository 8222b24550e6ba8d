/**
 * The offline render: runs the real program (`index.ts`) under Pulumi's mocks, with no Pulumi CLI
 * and no cluster, for a stack's config, and returns every registered resource, every Kubernetes
 * object and the stack outputs, with secret values replaced by a placeholder.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse as parseYaml } from "yaml";
import { PROJECT, SECRET_KEYS } from "../components/config";

/** What replaces every secret value in the render. */
export const SECRET_PLACEHOLDER = "[secret]";

/** Pulumi's marker of a secret value in serialized resource inputs. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

/** Project root (where `Pulumi.yaml` lives). */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** One registered resource. */
export interface RenderedResource {
  /** Type token, e.g. `kubernetes:argoproj.io/v1alpha1:WorkflowTemplate`. */
  type: string;
  /** Logical name. */
  name: string;
  /** URN under the mocks. */
  urn: string;
  /** The parent's URN, or null for a top-level resource. */
  parent: string | null;
  /** Inputs, secrets replaced by the placeholder. */
  inputs: Record<string, unknown>;
  /** Paths (dotted) of the inputs that were secret. */
  secretPaths: string[];
  /** The resource option `additionalSecretOutputs`. */
  additionalSecretOutputs: string[];
}

/** A Kubernetes object as the stack declares it. */
export type KubeObject = { apiVersion: string; kind: string; metadata: { name?: string; namespace?: string; [k: string]: unknown }; [k: string]: unknown };

/** The whole render. */
export interface Render {
  resources: RenderedResource[];
  /** Every Kubernetes object (resources whose type starts with `kubernetes:`), in registration order. */
  manifests: KubeObject[];
  outputs: Record<string, unknown>;
}

/** Options of {@link renderStack}. */
export interface RenderOptions {
  /** Stack whose `Pulumi.<stack>.yaml` is read. Defaults to `preview`. */
  stack?: string;
  /** Config keys (without the project prefix) replacing the stack file's values. */
  overrides?: Record<string, unknown>;
}

/** Reads `Pulumi.<stack>.yaml` into Pulumi's flat config map (objects JSON-encoded). */
export function readStackConfig(stack: string): Record<string, string> {
  const file = path.join(PROJECT_ROOT, `Pulumi.${stack}.yaml`);
  const doc = (parseYaml(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value && typeof value === "object" && "secure" in (value as object)) {
      throw new Error(`${file}: ${key} is an encrypted secret; the offline render uses placeholders for secrets instead`);
    }
    flat[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return flat;
}

/**
 * A secret value with every scalar replaced by the placeholder: an object or list keeps its shape
 * (a Secret's `stringData` still shows which keys to fill in), no value survives.
 */
function placeholders(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(placeholders);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholders(v)]));
  return SECRET_PLACEHOLDER;
}

function redact(value: unknown, at: string, secretPaths: string[]): unknown {
  if (Array.isArray(value)) return value.map((v, i) => redact(v, `${at}[${i}]`, secretPaths));
  if (value && typeof value === "object") {
    const obj = value as Record<string, unknown>;
    if (obj[SECRET_SIG_KEY] === SECRET_SIG) {
      secretPaths.push(at);
      return placeholders(obj.value);
    }
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, redact(v, at ? `${at}.${k}` : k, secretPaths)]));
  }
  return value;
}

async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    const output = value as pulumi.Output<unknown>;
    if (await pulumi.isSecret(output)) return SECRET_PLACEHOLDER;
    const inner = await new Promise<unknown>((res) => output.apply((v) => res(v)));
    return resolve(inner);
  }
  if (Array.isArray(value)) return Promise.all(value.map(resolve));
  if (value && typeof value === "object") {
    const entries = await Promise.all(Object.entries(value).map(async ([k, v]) => [k, await resolve(v)] as const));
    return Object.fromEntries(entries);
  }
  return value;
}

/** Internal handle on the mock monitor, to learn each registration's parent. */
interface MonitorLike {
  registerResource(req: { getParent(): string; getType(): string; getName(): string; getAdditionalsecretoutputsList(): string[] }, cb: (err: unknown, resp?: { getUrn(): string }) => void): void;
}

/**
 * Renders a stack. Throws the program's error (for bad config: the one message naming every bad key).
 */
export async function renderStack(options: RenderOptions = {}): Promise<Render> {
  const stack = options.stack ?? "preview";
  const flat = readStackConfig(stack);
  for (const [key, value] of Object.entries(options.overrides ?? {})) {
    const full = `${PROJECT}:${key}`;
    if (value === undefined) delete flat[full];
    else flat[full] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const secretKeys: string[] = [];
  for (const key of SECRET_KEYS) {
    const full = `${PROJECT}:${key}`;
    flat[full] ??= `placeholder ${key} for the offline render`;
    secretKeys.push(full);
  }

  const registered: Array<{ type: string; name: string; inputs: Record<string, unknown> }> = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        registered.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => args.inputs,
    },
    PROJECT,
    stack,
    false,
  );
  pulumi.runtime.setAllConfig(flat, secretKeys);

  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const settings = require("@pulumi/pulumi/runtime/settings") as {
    getMonitor(): MonitorLike;
    waitForRPCs(): Promise<void>;
  };
  const monitor = settings.getMonitor();
  const identity = new Map<string, { urn: string; parent: string | null; additionalSecretOutputs: string[] }>();
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) =>
    original(req, (err, resp) => {
      if (resp) {
        identity.set(`${req.getType()}::${req.getName()}`, {
          urn: resp.getUrn(),
          parent: req.getParent() || null,
          additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        });
      }
      cb(err, resp);
    });

  // The program's default export is its main function (what `pulumi up` calls).
  type Main = () => Promise<Record<string, unknown>>;
  const programModule = (await import(path.join(PROJECT_ROOT, "index.ts"))) as { default: Main | { default: Main } };
  const main = typeof programModule.default === "function" ? programModule.default : programModule.default.default;
  const rawOutputs = await main();
  const outputs = (await resolve(rawOutputs)) as Record<string, unknown>;
  await settings.waitForRPCs();

  const resources: RenderedResource[] = registered.map((r) => {
    const secretPaths: string[] = [];
    const inputs = redact(r.inputs, "", secretPaths) as Record<string, unknown>;
    const { urn, parent, additionalSecretOutputs } = identity.get(`${r.type}::${r.name}`) ?? { urn: "", parent: null, additionalSecretOutputs: [] };
    return { type: r.type, name: r.name, urn, parent, inputs, secretPaths, additionalSecretOutputs };
  });
  const manifests = resources
    .filter((r) => r.type.startsWith("kubernetes:") && !r.type.startsWith("pulumi:providers:"))
    .map((r) => r.inputs as KubeObject);
  return { resources, manifests, outputs };
}

import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { parseConfig } from "../../components/config";
import { PROJECT_ROOT, readStackConfig } from "../../scripts/offline-render";
import { argoEventsValidator } from "../helpers/argo-events-schema";

const doc = readFileSync(path.join(PROJECT_ROOT, "docs/trigger.md"), "utf8");
const yamlBlocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parseYaml(m[1]) as Record<string, unknown>);

describe("docs/trigger.md", () => {
  it("shows an EventSource Argo Events accepts, with the names and event the trigger's defaults expect and a webhook secret", () => {
    const eventSource = yamlBlocks.find((b) => b.kind === "EventSource") as { metadata: { name: string }; spec: { github: Record<string, { events: string[]; webhookSecret?: object }> } };
    const validate = argoEventsValidator("EventSource");
    expect(validate(eventSource), JSON.stringify(validate.errors)).toBe(true);
    const defaults = parseConfig(readStackConfig("preview")).trigger.eventSource;
    expect(eventSource.metadata.name).toBe(defaults.name);
    expect(eventSource.spec.github[defaults.eventName]).toMatchObject({ events: ["pull_request"], webhookSecret: { name: "github-webhook", key: "secret" } });
  });

  it("the strict EventSource schema refuses a misspelt field (the check can fail)", () => {
    const eventSource = structuredClone(yamlBlocks.find((b) => b.kind === "EventSource")) as { spec: { github: Record<string, Record<string, unknown>> } };
    eventSource.spec.github["pull-requests"].webhookSecrets = eventSource.spec.github["pull-requests"].webhookSecret;
    expect(argoEventsValidator("EventSource")(eventSource)).toBe(false);
  });

  it("shows a config the stack accepts, with the trigger on", () => {
    const block = yamlBlocks.find((b) => "implementation-dag:trigger" in b) ?? {};
    const flat = { ...readStackConfig("preview") };
    for (const [key, value] of Object.entries(block)) flat[key] = JSON.stringify(value);
    expect(parseConfig(flat).trigger).toMatchObject({ enabled: true, agentAppSlugs: { rex: "example-rex", clippy: "example-clippy", qa: "example-qa" } });
  });
});

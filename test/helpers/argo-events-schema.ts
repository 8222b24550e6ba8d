/**
 * Validators of Argo Events objects from the schemas vendored in test/schemas (see its README),
 * made strict: every object definition that lists properties refuses any other, because the API
 * server would silently prune a misspelt field of these CRDs and leave it without effect.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
import Ajv, { type ValidateFunction } from "ajv";
import { PROJECT_ROOT } from "../../scripts/offline-render";

/** The Argo Events kinds with a vendored schema. */
export type ArgoEventsKind = "Sensor" | "EventSource";

const FILES: Record<ArgoEventsKind, string> = {
  Sensor: "test/schemas/argo-events-sensor.schema.json",
  EventSource: "test/schemas/argo-events-eventsource.schema.json",
};

/** A strict validator of one Argo Events kind. */
export function argoEventsValidator(kind: ArgoEventsKind): ValidateFunction {
  const schema = JSON.parse(readFileSync(path.join(PROJECT_ROOT, FILES[kind]), "utf8")) as {
    definitions: Record<string, { properties?: object; additionalProperties?: unknown }>;
  };
  for (const def of Object.values(schema.definitions)) if (def.properties && def.additionalProperties === undefined) def.additionalProperties = false;
  const ajv = new Ajv({ strict: true, allowUnionTypes: true, allErrors: true });
  // Kubernetes' annotations of the schema, not constraints.
  ajv.addVocabulary(["x-kubernetes-group-version-kind", "x-kubernetes-list-map-keys", "x-kubernetes-list-type", "x-kubernetes-map-type",
    "x-kubernetes-patch-merge-key", "x-kubernetes-patch-strategy", "x-kubernetes-unions"]);
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  // Checked by their own definitions' types; the API server's parsing of them is not modelled.
  ajv.addFormat("int64-or-string", true);
  ajv.addFormat("int-or-string", true);
  ajv.addFormat("date-time", true);
  return ajv.compile(schema);
}

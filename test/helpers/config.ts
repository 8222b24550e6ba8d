/** Stack config as the tests give it: every problem parseConfig reports for a flat config. */
import { ConfigError, parseConfig } from "../../components/config";

/** The problems parseConfig reports for `flat` (empty when it parses). */
export function problemsOf(flat: Record<string, string>): string[] {
  try {
    parseConfig(flat);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

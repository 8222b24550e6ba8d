/** Runs before every test file: takes the fake apps' keys the global setup made (test/global-setup.ts). */
import { inject } from "vitest";
import { presetAppKeys } from "../simulator/fake-github";

presetAppKeys(inject("appKeys"));

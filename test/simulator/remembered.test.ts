/** simulator/tools.ts `remembered`: one computation per key, shared while under way; a failure is not kept. */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { remembered } from "../../simulator/tools";

describe("remembered", () => {
  it("computes a key once, also for calls made while the first is still computing", async () => {
    const key = `test ${randomUUID()}`;
    let runs = 0;
    const compute = async () => {
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      return "answer";
    };
    expect(await Promise.all([remembered(key, compute), remembered(key, compute)])).toEqual(["answer", "answer"]);
    expect(await remembered(key, compute)).toBe("answer");
    expect(runs).toBe(1);
  });

  it("keeps no failure: the next call computes again", async () => {
    const key = `test ${randomUUID()}`;
    await expect(remembered(key, async () => { throw new Error("helm failed"); })).rejects.toThrow("helm failed");
    expect(await remembered(key, async () => "answer")).toBe("answer");
  });
});

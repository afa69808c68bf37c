import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { closeAll, startTestCloud, type TestCloud } from "./helpers.js";

let t: TestCloud;

beforeEach(async () => {
  t = await startTestCloud();
});
afterEach(closeAll);

describe("deprecated endpoints", () => {
  it("answer Sunset beside Deprecation, and the OpenAPI document declares both", async () => {
    for (const [method, url] of [
      ["POST", "/service-providers/v1/key-requests"],
      ["GET", "/service-providers/v1/key-requests-options/1234"],
    ] as const) {
      const res = await t.call(method, url, method === "POST" ? { body: { msn: "1234" } } : {});
      expect(res.status).toBe(410);
      expect(res.headers.deprecation).toBe("@1735689600");
      expect(res.headers.sunset).toBe("Wed, 01 Jan 2025 00:00:00 GMT");
      expect(res.headers.link).toContain('rel="alternate"');
    }
    const doc = (await t.call("GET", "/docs/json")).body;
    const headers = doc.paths["/service-providers/v1/key-requests"].post.responses["410"].headers;
    expect(Object.keys(headers).sort()).toEqual(["deprecation", "link", "sunset"]);
  });
});

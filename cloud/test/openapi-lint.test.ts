import { createConfig, lintFromString } from "@redocly/openapi-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startTestCloud, type TestCloud } from "./helpers.js";

/**
 * Issue 14: /docs/json is a contract integrators generate clients from (openapi-typescript, openapi-fetch), so a
 * maintained linter reads it as they would: Redocly's `recommended` rules, with no errors. Warnings are listed in the
 * test's name-by-name expectation below, each with why it stays.
 */
let t: TestCloud;
// biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
let doc: any;

beforeAll(async () => {
  t = await startTestCloud();
  doc = (await t.call("GET", "/docs/json")).body;
});
afterAll(closeAll);

interface Param {
  in: string;
  name: string;
  example?: unknown;
  schema?: { example?: unknown };
}

const METHODS = ["get", "put", "post", "patch", "delete"] as const;

// biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
function operations(): Array<{ method: string; path: string; op: any }> {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    // biome-ignore lint/suspicious/noExplicitAny: the document is walked field by field
    METHODS.filter((m) => (item as any)[m]).map((method) => ({ method, path, op: (item as any)[method] })),
  );
}

/** Warnings Redocly still gives, each kept on purpose. */
const KEPT_WARNINGS = [
  // The seed's deprecated Service Provider routes answer only 410 Gone (with Deprecation and Sunset): there is no 2xx
  // to declare, and declaring one would tell generated clients something the server never answers.
  "warn operation-2xx-response #/paths/~1service-providers~1v1~1key-requests/post/responses",
  "warn operation-2xx-response #/paths/~1service-providers~1v1~1key-requests-options~1{msn}/get/responses",
];

describe("the OpenAPI document", () => {
  it("lints with no errors under Redocly's recommended rules, and only the warnings kept on purpose", async () => {
    const config = await createConfig({ extends: ["recommended"] });
    const problems = await lintFromString({ source: JSON.stringify(doc), absoluteRef: "openapi.json", config });
    const where = (p: (typeof problems)[number]) =>
      `${p.severity} ${p.ruleId} ${p.location.map((l) => l.pointer).join(" ")}`;
    expect(problems.filter((p) => p.severity === "error").map((p) => `${where(p)}: ${p.message}`)).toEqual([]);
    expect(problems.filter((p) => p.severity === "warn").map(where)).toEqual(KEPT_WARNINGS);
  });

  it("names its license and its server", () => {
    expect(doc.info.license).toEqual({ name: "Apache-2.0", url: "https://www.apache.org/licenses/LICENSE-2.0" });
    expect(doc.servers).toEqual([{ url: "/", description: "this cloud" }]);
  });

  it("gives every operation a unique camelCase operationId", () => {
    const ids = operations().map(({ op }) => op.operationId);
    expect(ids.filter((id) => typeof id !== "string" || !/^[a-z][a-zA-Z0-9]*$/.test(id))).toEqual([]);
    expect(new Set(ids).size).toBe(ids.length);
    // Stable: generated clients name their methods after these; renaming one breaks them.
    expect(
      operations().find(
        (o) => o.path === "/integrators/v1/lock-holders/{lockHolderId}/keys/{keyId}" && o.method === "patch",
      )?.op.operationId,
    ).toBe("editKey");
  });

  it('describes every answer: no @fastify/swagger "Default Response" (a 2xx says what it means and what it answers)', () => {
    const vague = operations().flatMap(({ method, path, op }) =>
      Object.entries(op.responses as Record<string, { description?: string }>)
        .filter(([, r]) => !r.description || r.description === "Default Response")
        .map(([code]) => `${method} ${path} ${code}`),
    );
    expect(vague).toEqual([]);
    expect(doc.paths["/integrators/v1/lock-holders"].post.responses["201"].description).toBe(
      "Created: create a lock holder (and its first issuer key)",
    );
    // A route's own description wins.
    expect(doc.paths["/app/v1/device"].delete.responses["204"].description).toBe("forgotten");
  });

  it("gives every path parameter an example (the 410-only deprecated routes aside)", () => {
    const missing = operations().flatMap(({ method, path, op }) =>
      op.deprecated
        ? []
        : ((op.parameters ?? []) as Param[])
            .filter((p: Param) => p.in === "path" && p.schema?.example === undefined && p.example === undefined)
            .map((p: Param) => `${method} ${path} ${p.name}`),
    );
    expect(missing).toEqual([]);
  });

  it("declares the statuses every operation can answer because of its method, inputs and auth", () => {
    const missing: string[] = [];
    for (const { method, path, op } of operations()) {
      if (op.deprecated) continue;
      const need = new Set<number>();
      if (["post", "put", "patch", "delete"].includes(method)) for (const c of [400, 413, 415]) need.add(c);
      const params = (op.parameters ?? []) as Param[];
      if (params.some((p) => p.in === "query")) need.add(400);
      if (params.some((p) => p.in === "path")) for (const c of [400, 404]) need.add(c);
      if (op.security === undefined || op.security.length > 0) for (const c of [401, 403]) need.add(c);
      for (const c of need) if (op.responses[String(c)] === undefined) missing.push(`${method} ${path} ${c}`);
    }
    expect(missing).toEqual([]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { closeAll, startTestCloud, type TestCloud } from "./helpers.js";

/** Issue 15 item 14: the /docs page as a newcomer sees it. */
let t: TestCloud;

beforeAll(async () => {
  t = await startTestCloud();
});
afterAll(closeAll);

/** `<word>` outside Markdown code spans: the docs page reads it as an HTML tag and shows nothing. */
function bareTags(markdown: string): string[] {
  return markdown.replace(/`[^`]*`/g, "").match(/<[a-zA-Z][^>]*>/g) ?? [];
}

describe("the OpenAPI docs page", () => {
  it("is titled latchkey, not the Swagger UI default", async () => {
    const res = await t.call<string>("GET", "/docs/");
    expect(res.status).toBe(200);
    const html = res.body;
    expect(html).toMatch(/<title>latchkey cloud API<\/title>/);
    expect(html).not.toContain("<title>Swagger UI</title>");
  });

  it('shows "Bearer <token>" in its descriptions, in code spans the Markdown renderer keeps', async () => {
    const doc = (await t.call("GET", "/docs/json")).body as {
      info: { description: string };
      components: { securitySchemes: { bearer: { description?: string } } };
    };
    const scheme = doc.components.securitySchemes.bearer.description ?? "";
    for (const text of [doc.info.description, scheme]) {
      expect(text).toContain("`Authorization: Bearer <token>`");
      expect(bareTags(text)).toEqual([]);
    }
  });

  it("no description or summary anywhere in the document holds a bare <placeholder> the page would swallow", async () => {
    const found: string[] = [];
    const walk = (value: unknown, path: string): void => {
      if (typeof value === "string") {
        if (/\.(description|summary)$/.test(path) && bareTags(value).length > 0) found.push(path);
      } else if (value !== null && typeof value === "object")
        for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`);
    };
    walk((await t.call("GET", "/docs/json")).body, "");
    expect(found).toEqual([]);
  });
});

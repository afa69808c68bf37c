import { Type } from "@sinclair/typebox";
import { describe, expect, it } from "vitest";
import { pointerToKey, schemaAt, schemaIssues, schemaLeaves } from "../src/options.js";

const Schema = Type.Object(
  {
    port: Type.Integer({ minimum: 1, maximum: 65_535 }),
    level: Type.Union([Type.Literal("info"), Type.Literal("debug")]),
    secret: Type.String({ minLength: 8, secret: true }),
    accounts: Type.Array(Type.Object({ username: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);

describe("schemaIssues", () => {
  it("names each key at fault in words, with the value it got", () => {
    expect(schemaIssues(Schema, { port: 70_000, level: "loud", secret: "long enough", accounts: [] })).toEqual([
      { key: "port", message: "must be at most 65535 (got 70000)" },
      { key: "level", message: 'must be one of info, debug (got "loud")' },
    ]);
  });

  it("suggests the option an unknown key was probably meant to be, and reports a missing one", () => {
    expect(schemaIssues(Schema, { prot: 80, level: "info", secret: "long enough", accounts: [] })).toEqual([
      { key: "port", message: "is required" },
      { key: "prot", message: 'is not a known option (did you mean "port"?)' },
    ]);
  });

  it("never echoes a secret's value, and finds keys inside lists", () => {
    const issues = schemaIssues(Schema, { port: 1, level: "info", secret: "short", accounts: [{ username: 1 }] });
    expect(issues).toEqual([
      { key: "secret", message: "must be at least 8 characters" },
      { key: "accounts[0].username", message: "must be text (got 1)" },
    ]);
  });

  it("finds nothing to say about valid options", () => {
    expect(schemaIssues(Schema, { port: 1, level: "debug", secret: "long enough", accounts: [] })).toEqual([]);
  });
});

describe("the schema walk", () => {
  it("lists the leaves, finds a schema by JSON pointer and writes a pointer as a key", () => {
    expect(schemaLeaves(Schema).map((l) => l.path.join("."))).toEqual(["port", "level", "secret", "accounts"]);
    expect(schemaAt(Schema, "/accounts/0/username")).toMatchObject({ type: "string" });
    expect(schemaAt(Schema, "/nowhere")).toBeUndefined();
    expect(pointerToKey("/accounts/0/username")).toBe("accounts[0].username");
    expect(pointerToKey("")).toBe("(root)");
  });
});

import { describe, expect, it } from "vitest";
import { columnGroup } from "../src/index.js";

describe("columnGroup", () => {
  it("is the group when every column is set (0 and empty text are set)", () => {
    expect(columnGroup({ level: 0, state: "" })).toEqual({ level: 0, state: "" });
  });

  it("is null when any column is NULL: a half-written group is none", () => {
    expect(columnGroup({ level: 80, mv: null, state: "ok" })).toBeNull();
    expect(columnGroup({ iat: null, localMs: null })).toBeNull();
  });
});

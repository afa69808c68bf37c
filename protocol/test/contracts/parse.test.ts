import { describe, expect, it } from "vitest";
import { LockChange, LockStateAnswer } from "../../src/contracts/bridge-api.js";
import { TokenRequest } from "../../src/contracts/integrator.js";
import { Key } from "../../src/contracts/keys.js";
import { ContractError, isContractError, matches, parse } from "../../src/contracts/parse.js";

const state = { lockId: "sim-lock-001", v: 2, iat: 1_800_000_000, state: "0oRYQ6MB" };

describe("parse and matches: a value checked as the cloud checks it", () => {
  it("answers the value itself when it matches, untouched", () => {
    expect(parse(LockStateAnswer, state)).toBe(state);
    expect(matches(LockStateAnswer, state)).toBe(true);
  });

  it("throws a ContractError naming the first field that fails", () => {
    const error = (() => {
      try {
        parse(LockStateAnswer, { ...state, state: "not base64url!" });
      } catch (e) {
        return e;
      }
    })();
    expect(isContractError(error)).toBe(true);
    expect(error).toBeInstanceOf(ContractError);
    expect((error as ContractError).path).toBe("/state");
    expect((error as ContractError).message).toMatch(/^\/state: /);
    expect(() => parse(LockStateAnswer, null)).toThrow(ContractError);
    expect(matches(LockStateAnswer, { ...state, v: 1.5 })).toBe(false);
  });

  it("closed request objects refuse an unknown field; feed entries are open to fields a newer cloud adds", () => {
    expect(matches(TokenRequest, { scope: "bridge", extra: 1 })).toBe(false);
    const lock = { seq: 3, kind: "lock", lockId: "sim-1", vendorConnectionId: "vc_1", lockHolderId: "lh_1" };
    expect(matches(LockChange, { ...lock, removed: false, newField: true })).toBe(true);
    expect(matches(LockChange, { ...lock, lockId: "lock/../x", removed: false })).toBe(false);
  });

  it("knows the date-time format without the cloud registering it", () => {
    const key = {
      id: "k",
      lockId: "sim-1",
      toUser: { id: "+4791234567" },
      userId: "+4791234567",
      userName: null,
      start: "2030-01-01T08:00:00Z",
      end: null,
      created: "2030-01-01T08:00:00.000Z",
      edited: null,
      state: "active",
      metadata: null,
      recurrence: null,
      useKeyUrl: "https://example.com/k",
    };
    expect(matches(Key, key)).toBe(true);
    expect(matches(Key, { ...key, start: "tomorrow" })).toBe(false);
    expect(matches(Key, { ...key, edited: "2030-01-02T09:30:00.000Z" })).toBe(true);
    expect(matches(Key, { ...key, edited: "yesterday" })).toBe(false);
  });
});

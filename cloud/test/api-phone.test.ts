import { describe, expect, it } from "vitest";
import { keyHolderMobile } from "../src/domain/phone.js";
import { lh, type Tenant, type TestCloud, tenantSiteEach, virtualLocks } from "./helpers.js";

/** Issue 14: key holders have mobile numbers; lock holders a country whose numbers can be read. */

let t: TestCloud;
let tn: Tenant;

tenantSiteEach({}, (s) => {
  ({ t, tn } = s);
});

describe("mobile numbers only for key holders", () => {
  it("takes MOBILE and FIXED_LINE_OR_MOBILE, names the type of anything else", () => {
    expect(keyHolderMobile("+4791234567")).toEqual({ e164: "+4791234567" });
    expect(keyHolderMobile("412 34 567", "NO")).toEqual({ e164: "+4741234567" });
    // North American numbers do not say whether they are mobiles: libphonenumber's FIXED_LINE_OR_MOBILE.
    expect(keyHolderMobile("+1 415 555 2671")).toEqual({ e164: "+14155552671" });
    expect(keyHolderMobile("+4722123456")).toEqual({
      problem: expect.stringContaining("is a landline (FIXED_LINE), not a mobile number"),
    });
    expect(keyHolderMobile("+4780012345")).toEqual({
      problem: expect.stringContaining("toll-free number (TOLL_FREE)"),
    });
    expect(keyHolderMobile("+442071234567")).toEqual({ problem: expect.stringContaining("(FIXED_LINE)") });
    expect(keyHolderMobile("+4711111111")).toEqual({ problem: expect.stringContaining("is not a valid mobile") });
  });

  it("a landline is refused with 422 naming why, on both create routes, in a batch and by the format helper", async () => {
    const { lockIds } = await virtualLocks(t, tn, 1);
    const lockId = lockIds[0]!;
    for (const [url, body] of [
      [lh(tn, `/locks/${lockId}/keys`), { userId: "+4722123456" }],
      [lh(tn, "/keys"), { lockId, userId: "22 12 34 56" }],
    ] as const) {
      const res = await t.call("POST", url, { token: tn.token, body });
      expect(res.status, url).toBe(422);
      expect(res.body.error).toBe("invalid_phone_number");
      expect(res.body.errorDescription).toBe(
        `body.userId: ${JSON.stringify(body.userId)} is a landline (FIXED_LINE), not a mobile number: a key holder ` +
          "needs a mobile number, which receives the one-time code by SMS",
      );
    }
    // A batch is validated whole before any job: 400 naming the item.
    const batch = await t.call("POST", lh(tn, "/keys/batch"), {
      token: tn.token,
      body: {
        keys: [
          { lockId, userId: "+4791234567" },
          { lockId, userId: "+4722123456" },
        ],
      },
    });
    expect(batch.status).toBe(400);
    expect(batch.body.errorDescription).toContain('body.keys.1.userId: "+4722123456" is a landline (FIXED_LINE)');
    expect((await t.call("GET", lh(tn, "/keys"), { token: tn.token })).body.keys).toEqual([]);

    const format = await t.call("POST", "/integrators/v1/phone-numbers/format", {
      token: tn.token,
      body: { phoneNumber: "22 12 34 56", countryIso: "NO" },
    });
    expect(format.status).toBe(422);
    expect(format.body.errorDescription).toContain("landline (FIXED_LINE)");

    // FIXED_LINE_OR_MOBILE is taken.
    const us = await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId: "+14155552671" } });
    expect(us.status, JSON.stringify(us.body)).toBe(201);
    expect(us.body.userId).toBe("+14155552671");
  });
});

describe("countryIso on lock holders", () => {
  it("must be a country the phone number metadata knows: 422 invalid_country on create and patch", async () => {
    const created = await t.call("POST", "/integrators/v1/lock-holders", {
      token: tn.token,
      body: { name: "Nowhere", countryIso: "XX" },
    });
    expect(created.status).toBe(422);
    expect(created.body).toEqual({
      error: "invalid_country",
      errorDescription:
        'body.countryIso: "XX" is not an ISO 3166-1 alpha-2 country code known to the phone number metadata',
    });
    const list = await t.call("GET", "/integrators/v1/lock-holders", { token: tn.token });
    expect(list.body.lockHolders.map((l: { name: string }) => l.name)).toEqual(["Tenant homes"]);
    // Shaped wrong is still a 400 from the schema.
    const lower = await t.call("POST", "/integrators/v1/lock-holders", {
      token: tn.token,
      body: { name: "x", countryIso: "no" },
    });
    expect(lower.status).toBe(400);

    const patched = await t.call("PATCH", lh(tn), { token: tn.token, body: { countryIso: "UK" } });
    expect(patched.status).toBe(422);
    expect(patched.body.errorDescription).toContain('"UK"');
    expect((await t.call("GET", lh(tn), { token: tn.token })).body.countryIso).toBe("NO");
    const sweden = await t.call("PATCH", lh(tn), { token: tn.token, body: { countryIso: "SE" } });
    expect(sweden.status).toBe(200);
    expect(sweden.body.countryIso).toBe("SE");
  });
});

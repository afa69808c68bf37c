import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { fromBase64Url, fromHex, ManualClock, toBase64Url, toHex, verifyUnlockProof } from "@latchkey/protocol";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { AppApiError, Phone, PhoneError, type SimLock, seededRandom, startLock, VirtualRadio } from "../src/index.js";
import { TestCloud } from "./helpers/cloud.js";
import { claimsFor, makeDevice, makeIssuer, mint, T0 } from "./helpers/keys.js";
import { TempDirs } from "./helpers/tmp.js";

/**
 * The phone's HTTP client against the documented contract of docs/app-api.md. The server here is a contract fixture
 * (this package must not depend on cloud/); the same phone runs against the real cloud in the whole-stack suite.
 * It records what the phone sent, so the test checks paths, bodies and the bearer token.
 */
const issuer = makeIssuer("app-api");

interface Recorded {
  method: string;
  url: string;
  auth?: string;
  body?: Record<string, unknown>;
}

describe("phone ↔ app API contract", () => {
  const tmp = new TempDirs();
  const clock = new ManualClock(T0 * 1000);
  let server: Server;
  let url: string;
  let requests: Recorded[];
  let respond: (r: Recorded, res: ServerResponse) => void;
  let lock: SimLock | undefined;

  beforeEach(async () => {
    requests = [];
    server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let raw = "";
      req.on("data", (c) => (raw += c));
      req.on("end", () => {
        const r: Recorded = { method: req.method!, url: req.url! };
        if (req.headers.authorization) r.auth = req.headers.authorization;
        if (raw) r.body = JSON.parse(raw);
        requests.push(r);
        respond(r, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });

  afterEach(async () => {
    await lock?.stop();
    lock = undefined;
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    tmp.cleanup();
  });

  const json = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };

  it("verifies the number, registers its device key, prefetches keys and states, then opens the door with the cloud gone", async () => {
    const radio = new VirtualRadio();
    const cloud = new TestCloud(clock, issuer);
    lock = await startLock({
      lockId: "flat-12",
      dataDir: tmp.make(),
      clock,
      random: seededRandom("flat"),
      radio,
      tickIntervalMs: 0,
    });
    cloud.provision(lock);
    const newer = cloud.state("flat-12");
    const newerV = lock.stateV + 1;
    let deviceKey = "";
    respond = (r, res) => {
      if (r.method === "POST" && r.url === "/app/v1/verification")
        return json(res, 202, { verificationId: "ver_1", expiresIn: 300 });
      if (r.method === "POST" && r.url === "/app/v1/verification/ver_1/confirm") {
        deviceKey = String(r.body?.devicePublicKey);
        return json(res, 200, {
          deviceId: "dev_1",
          accessToken: "at_1",
          tokenType: "bearer",
          expiresIn: 3600,
          userId: "+4790000000",
        });
      }
      if (r.method === "GET" && r.url === "/app/v1/keys" && r.auth === "Bearer at_1") {
        const token = mint(issuer, claimsFor("flat-12", fromHex(deviceKey)));
        return json(res, 200, {
          userId: "+4790000000",
          keys: [
            {
              keyId: "key_1",
              lockId: "flat-12",
              lockName: "Flat 12",
              start: T0 - 3600,
              end: T0 + 3600,
              state: "active",
              token: toBase64Url(token),
              useKeyUrl: "latchkey://use-key?keyId=key_1",
            },
          ],
          issuers: [{ kid: toHex(issuer.kid), x: toHex(issuer.publicKey) }],
          states: [{ lockId: "flat-12", v: newerV, state: toBase64Url(newer) }],
        });
      }
      if (r.method === "DELETE" && r.url === "/app/v1/device" && r.auth === "Bearer at_1") {
        res.writeHead(204);
        return res.end();
      }
      json(res, 404, { error: "not_found", errorDescription: "no such route" });
    };
    const phone = new Phone({ random: seededRandom("app-phone"), clock });
    const started = await phone.requestVerification(url, "+47 900 00 000", "NO");
    expect(started).toEqual({ verificationId: "ver_1", expiresIn: 300 });
    await phone.confirm(url, started.verificationId, "123456", "test phone");
    expect(requests[0]!.body).toEqual({ phoneNumber: "+47 900 00 000", countryIso: "NO" });
    expect(requests[1]!.body).toEqual({
      code: "123456",
      devicePublicKey: toHex(phone.devicePublicKey),
      deviceName: "test phone",
    });
    const keys = await phone.prefetch(url);
    expect(keys.map((k) => [k.keyId, k.lockId, k.lockName])).toEqual([["key_1", "flat-12", "Flat 12"]]);
    // The phone carries the lock's signed state to it (docs/app-api.md); the lock, not the phone, verifies it.
    expect(phone.states).toEqual([{ lockId: "flat-12", v: newerV, state: newer }]);

    await new Promise<void>((resolve) => server.close(() => resolve())); // offline from here on
    try {
      expect(await phone.unlock("flat-12", { radio })).toMatchObject({
        ok: true,
        keyId: "key_1",
        delivered: { ok: true, v: newerV },
      });
      expect(lock.stateV).toBe(newerV);
    } finally {
      phone.close();
    }
  });

  it("opens a cloud-hosted virtual lock with the same challenge-response over the app API", async () => {
    const phone = new Phone({ random: seededRandom("virtual-phone"), clock });
    phone.accessToken = "at_v";
    const token = mint(issuer, claimsFor("virtual-1", phone.devicePublicKey));
    phone.addToken(token, [issuer.trusted]);
    const nonce = new Uint8Array(16).fill(5);
    let denyNext = false;
    respond = (r, res) => {
      if (r.auth !== "Bearer at_v") return json(res, 401, { error: "unauthorized", errorDescription: "no token" });
      if (r.url === "/app/v1/virtual-locks/virtual-1/challenge") return json(res, 200, { nonce: toBase64Url(nonce) });
      if (r.url === "/app/v1/virtual-locks/virtual-1/unlock") {
        const b = r.body as Record<string, string>;
        const ok = verifyUnlockProof({
          lockId: "virtual-1",
          nonce: fromBase64Url(b.nonce!),
          token: fromBase64Url(b.token!),
          proof: fromBase64Url(b.proof!),
          devicePublicKey: phone.devicePublicKey,
        });
        if (!ok || denyNext)
          return json(res, 403, { error: denyNext ? "revoked" : "bad_proof", errorDescription: "no" });
        return json(res, 200, { result: "unlocked", eventId: "ev_1" });
      }
      json(res, 404, { error: "not_found", errorDescription: "?" });
    };
    expect(await phone.unlockVirtual(url, "virtual-1")).toMatchObject({ ok: true });
    denyNext = true;
    expect(await phone.unlockVirtual(url, "virtual-1")).toMatchObject({ ok: false, code: "revoked" });
  });

  it("maps API errors to AppApiError with the API's code, and refuses answers out of contract", async () => {
    const phone = new Phone({ random: seededRandom("app-phone-2"), clock });
    respond = (_r, res) => json(res, 429, { error: "too_many_requests", errorDescription: "slow down" });
    const err = await phone.requestVerification(url, "+4790000000").catch((e) => e);
    expect(err).toBeInstanceOf(AppApiError);
    expect(err).toMatchObject({ status: 429, code: "too_many_requests" });

    respond = (_r, res) => json(res, 422, { error: "invalid_device_key", errorDescription: "small-order key" });
    await expect(phone.confirm(url, "ver_1", "000000")).rejects.toMatchObject({
      status: 422,
      code: "invalid_device_key",
    });

    respond = (_r, res) =>
      json(res, 200, {
        userId: "+47",
        keys: [{ keyId: "k", lockId: "a/b", state: "active", token: "AA" }],
        issuers: [],
      });
    await expect(phone.prefetch(url, "at")).rejects.toMatchObject({ code: "invalid_response" });

    const outOfContract = [
      "not a list",
      [{ lockId: "a/b", v: 1, state: "AA" }],
      [{ lockId: "door", v: -1, state: "AA" }],
      [{ lockId: "door", v: 1.5, state: "AA" }],
      [{ lockId: "door", v: 1, state: "not base64url!" }],
      [null],
    ];
    for (const states of outOfContract) {
      respond = (_r, res) => json(res, 200, { userId: "+47", keys: [], issuers: [], states });
      await expect(phone.prefetch(url, "at"), JSON.stringify(states)).rejects.toMatchObject({
        code: "invalid_response",
      });
    }
    // A cloud from before signed states sends no `states`: nothing to carry.
    respond = (_r, res) => json(res, 200, { userId: "+47", keys: [], issuers: [] });
    await expect(phone.prefetch(url, "at")).resolves.toEqual([]);
    expect(phone.states).toEqual([]);

    const stranger = makeDevice("not-this-phone");
    respond = (_r, res) =>
      json(res, 200, {
        userId: "+47",
        keys: [
          {
            keyId: "k",
            lockId: "door",
            state: "active",
            token: toBase64Url(mint(issuer, claimsFor("door", stranger.publicKey))),
          },
        ],
        issuers: [{ kid: toHex(issuer.kid), x: toHex(issuer.publicKey) }],
      });
    await expect(phone.prefetch(url, "at")).rejects.toThrow(PhoneError);
    await expect(phone.prefetch(url, "at")).rejects.toThrow(/another device key/);
    await expect(phone.prefetch("http://127.0.0.1:1", "at")).rejects.toMatchObject({ code: "unreachable" });
    await expect(phone.prefetch(url)).rejects.toThrow(/needs an access token/);
  });
});

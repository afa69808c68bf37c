import { startCloud } from "@latchkey/cloud";
import { seededRandom } from "@latchkey/lock-sim";
import {
  encodeSetupCode,
  encodeTimeRequest,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  ManualClock,
  toBase64Url,
  toHex,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { type Answer, type SendOptions, send } from "../src/reliability/routes.js";
import { type TenantSide as Side, tenantSide } from "../src/reliability/tenant.js";

/**
 * Issue 13, the cloud side (docs/trust.md "Cloud"): what the cloud refuses before locks rely on its signed state.
 * The real cloud in this process over HTTP on 127.0.0.1, two tenants, each with a bridge that reports a lock; every
 * secret made (claim secrets included) is tracked and must appear in no log line (ReliabilityFile).
 */
const file = new ReliabilityFile("cloud-trust");
const { tally, logs, secrets } = file;

function factory(lockId: string) {
  const random = seededRandom(`cloud-trust:${lockId}`);
  const claimSecret = random(16);
  const keys = {
    identityKey: keyPairFromSeed(random(32)).publicKey,
    agreementKey: x25519KeyPairFromSeed(random(32)).publicKey,
  };
  secrets.add(`claim secret of ${lockId}`, toHex(claimSecret));
  secrets.add(`claim secret of ${lockId} (base64url)`, toBase64Url(claimSecret));
  return { lockId, claimSecret, setupCode: encodeSetupCode({ lockId, claimSecret, fingerprint: fingerprint(keys) }) };
}

describe("issue 13, cloud side: claims, signed state and time through the running cloud", () => {
  it("refuses claims without the code, other tenants' documents, and cross-lock or replayed states", async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const cloud = await startCloud({
      dataDir: file.resources.tempDir("latchkey-cloud-trust-"),
      port: 0,
      clock,
      logLevel: "info",
      logStream: logs.stream("cloud"),
      random: seededRandom("cloud-trust"),
      masterKey: new Uint8Array(32).fill(5),
      workers: false,
      // The test moves the clock an hour (a state is re-signed then); its access tokens outlive that.
      settings: { accessTokenTtlSeconds: 86_400 },
    });
    file.resources.defer("close the cloud", () => cloud.close());
    const api = (method: string, path: string, options: SendOptions = {}): Promise<Answer> =>
      send(cloud.port, method, path, options);

    const side = (name: string, lockIds: string[]) => tenantSide(cloud, api, secrets, name, lockIds);

    const owner = await side("Owner", ["ct-door-a", "ct-door-b"]);
    const rival = await side("Rival", ["ct-rival-door"]);
    const doorA = factory("ct-door-a");
    const doorB = factory("ct-door-b");
    const claim = (s: Side, setupCode: string) =>
      api("POST", `${s.lhPath}/locks/claims`, { token: s.admin, json: { setupCode } });

    tally.case("issue 13 cloud: a claim with a mistyped or foreign setup code is refused (422 naming the problem)");
    const body = doorA.setupCode.slice(4);
    for (let i = 0; i < 20; i++) {
      const c = body[i]!;
      const typo = `LK1:${body.slice(0, i)}${c === "A" ? "B" : "A"}${body.slice(i + 1)}`;
      const answer = await claim(owner, typo);
      tally.input();
      expect(answer.status).toBe(422);
      expect(answer.body.error).toBe("bad_checksum");
      tally.refuse();
    }
    for (const code of ["", "LK1:", "LK2:ABCDEF", "not a code", `LK1:${body}0`]) {
      const answer = await claim(owner, code);
      tally.input();
      expect([400, 422]).toContain(answer.status);
      tally.refuse();
    }
    expect((await claim(owner, doorA.setupCode)).status).toBe(201);
    expect((await claim(owner, doorB.setupCode)).status).toBe(201);

    tally.case("issue 13 cloud: another tenant claiming a claimed lock gets 409 naming nobody");
    const taken = await claim(rival, doorA.setupCode);
    tally.input();
    expect(taken.status).toBe(409);
    expect(taken.text).not.toContain("Owner");
    expect(taken.text).not.toContain(owner.lhPath.split("/").pop()!);
    tally.refuse();

    tally.case("issue 13 cloud: another tenant's bridge gets neither a lock's state nor a time answer (404)");
    const request = toBase64Url(encodeTimeRequest({ lock: doorA.lockId, nonce: new Uint8Array(16).fill(3) }));
    for (const [method, path, json] of [
      ["GET", `/bridge/v1/locks/${doorA.lockId}/state`, undefined],
      ["POST", `/bridge/v1/locks/${doorA.lockId}/time`, { request }],
      ["GET", "/bridge/v1/locks/ct-rival-door/state", undefined],
    ] as const) {
      const answer = await api(method, path, { token: rival.bridgeToken, ...(json ? { json } : {}) });
      tally.input();
      expect(answer.status).toBe(404);
      tally.refuse();
    }

    tally.case("issue 13 cloud: a state of lock A is refused at lock B, and a replaced state is refused as stale");
    const stateOf = async (lockId: string) => {
      const answer = await api("GET", `/bridge/v1/locks/${lockId}/state`, { token: owner.bridgeToken });
      expect(answer.status).toBe(200);
      return { v: answer.body.v as number, bytes: fromBase64Url(answer.body.state) };
    };
    const first = await stateOf(doorA.lockId);
    const pinned = verifyLockState(first.bytes, { lockId: doorA.lockId, claimSecret: doorA.claimSecret });
    if (!pinned.ok) throw new Error(pinned.message);
    for (const options of [
      { lockId: doorB.lockId, claimSecret: doorB.claimSecret },
      { lockId: doorB.lockId, authority: pinned.authority },
      { lockId: doorA.lockId, claimSecret: new Uint8Array(16) },
    ]) {
      tally.input();
      expect(verifyLockState(first.bytes, options).ok).toBe(false);
      tally.refuse();
    }
    clock.advance(3_600_000);
    const second = await stateOf(doorA.lockId);
    expect(second.v).toBeGreaterThan(first.v);
    tally.input();
    const replay = verifyLockState(first.bytes, {
      lockId: doorA.lockId,
      authority: pinned.authority,
      currentV: second.v,
    });
    expect(replay.ok || replay.code).toBe("stale_version");
    tally.refuse();
    tally.note("state bytes", second.bytes.length);
  });
});

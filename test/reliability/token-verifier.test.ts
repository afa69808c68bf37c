import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type SimLock, startLock } from "@latchkey/lock-sim";
import {
  CborTag,
  type CborValue,
  encodeCbor,
  fromBase64Url,
  HeaderLabel,
  keyPairFromSeed,
  ManualClock,
  NonceBook,
  nobleEd25519,
  nodeEd25519,
  signKeyToken,
  signSign1,
  signUnlockProof,
  TrustStore,
  toBase64Url,
  toHex,
  type VerifyKeyTokenOptions,
  verifyKeyToken,
  verifyUnlockRequest,
} from "@latchkey/protocol";
import { cborValues } from "@latchkey/protocol/testing/cbor-values";
import { claimsMap, cnfMap } from "@latchkey/protocol/testing/claims";
import {
  claims,
  DEVICE,
  hostileTokens,
  ISSUER,
  KID,
  LEEWAY,
  LOCK_ID,
  NOW,
  REVOKED_CTI,
  WEAK_KEYS,
} from "@latchkey/protocol/testing/hostile-tokens";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { call } from "../src/reliability/bridge-api.js";
import { LogSink, Secrets } from "../src/reliability/evidence.js";
import { registerDevice } from "../src/reliability/phone.js";
import { PlayedCloud } from "../src/reliability/played-cloud.js";
import { ReliabilitySite } from "../src/reliability/site.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * The key token verifier under attack: a corpus of hand-made hostile tokens and fast-check's generators, against
 * protocol's verifier (both Ed25519 backends) and the real lock firmware. Every hostile token is refused with its
 * docs/design.md code, nothing throws, and no mutation of a signed token is ever accepted with claims it did not carry.
 */
const tally = new Tally("token-verifier");
afterAll(() => tally.publish(inject("reliabilityReport")));

const trust = new TrustStore([{ kid: KID, publicKey: ISSUER.publicKey }]);
const revoked = new Set([toHex(REVOKED_CTI)]);
const options: VerifyKeyTokenOptions = { trust, lockId: LOCK_ID, now: NOW, leeway: LEEWAY, revoked };
const corpus = hostileTokens();

/** The whole decision a lock makes: fresh nonce, the device's proof (or the corpus's forgery), token, proof. */
function unlockDecision(token: Uint8Array, forged: Uint8Array | undefined, backend = nodeEd25519) {
  const nonces = new NonceBook();
  const nonce = nonces.issue(new Uint8Array(16).fill(7), NOW * 1000);
  const proof = forged ?? signUnlockProof({ lockId: LOCK_ID, nonce, token, deviceSecretKey: DEVICE.secretKey });
  return verifyUnlockRequest({ token, proof, nonce }, { ...options, nonces, nowMs: NOW * 1000, backend });
}

const code = (r: { ok: boolean; code?: string }) => (r.ok ? "ok" : r.code);

describe("a corpus of hostile key tokens", () => {
  it(`${corpus.length} tokens, each answered with its code by protocol's verifier on both backends`, () => {
    const wrong: string[] = [];
    for (const item of corpus) {
      for (const backend of [nodeEd25519, nobleEd25519]) {
        let got: string | undefined;
        try {
          got = code(unlockDecision(item.token, item.proof, backend));
        } catch (e) {
          got = `threw ${(e as Error).message}`;
        }
        tally.input();
        if (got !== "ok") tally.refuse();
        if (got !== item.expect) wrong.push(`${item.name}: expected ${item.expect}, got ${got}`);
        // The token alone (no proof involved): the same code, except that a weak cnf key is caught by the proof.
        const alone = code(verifyKeyToken(item.token, { ...options, backend }));
        const expectAlone = item.expect === "bad_proof" ? "ok" : item.expect;
        if (alone !== expectAlone) wrong.push(`${item.name} (token alone): expected ${expectAlone}, got ${alone}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(corpus.filter((c) => c.expect !== "ok").length).toBeGreaterThanOrEqual(100);
  });

  it("small-order and non-canonical issuer keys are refused when trusted, before any token is looked at", () => {
    for (const [name, key] of WEAK_KEYS) {
      expect(() => new TrustStore([{ kid: KID, publicKey: key }]), name).toThrow(/not a valid Ed25519 public key/);
      tally.input();
      tally.refuse();
    }
  });

  describe("through the real lock firmware", () => {
    let dir: string;
    let lock: SimLock;
    const clock = new ManualClock(NOW * 1000);
    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), "latchkey-reliability-tokens-"));
      lock = await startLock({
        lockId: LOCK_ID,
        dataDir: dir,
        clock,
        leewaySeconds: LEEWAY,
        tickIntervalMs: 0,
        relockSeconds: 0,
      });
      // What the lock trusts comes only from its authority's signed state (the issuer, the revocation) and signed
      // time (docs/trust.md "Lock"): a played cloud hands both over as a courier would.
      new PlayedCloud("token-verifier", clock).provision(
        lock,
        [{ kid: KID, publicKey: ISSUER.publicKey, notAfter: NOW + 10 * 365 * 86_400 }],
        { revoked: [{ cti: REVOKED_CTI }] },
      );
    });
    afterAll(async () => {
      await lock?.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("each token gets its code from the lock, as a command result and as one denied event; the door opens only for the controls", () => {
      const wrong: string[] = [];
      for (const [i, item] of corpus.entries()) {
        const challenge = lock.command({ id: `c-${i}`, type: "challenge" });
        if (!challenge.ok || !challenge.nonce) throw new Error("no challenge");
        const nonce = challenge.nonce;
        const proof =
          item.proof ??
          signUnlockProof({ lockId: LOCK_ID, nonce, token: item.token, deviceSecretKey: DEVICE.secretKey });
        const before = lock.events.length;
        const result = lock.command({ id: `u-${i}`, type: "unlock", token: item.token, proof, nonce });
        tally.input();
        const got = result.ok ? "ok" : result.code;
        if (got !== item.expect) wrong.push(`${item.name}: expected ${item.expect}, got ${got}`);
        const events = lock.events.slice(before).filter((e) => e.type === "unlocked" || e.type === "denied");
        const want = item.expect === "ok" ? "unlocked" : "denied";
        if (events.length !== 1 || events[0]!.type !== want || (want === "denied" && events[0]!.code !== item.expect))
          wrong.push(`${item.name}: events ${JSON.stringify(events.map((e) => [e.type, e.code]))}`);
        if (!result.ok) tally.refuse();
        lock.command({ id: `l-${i}`, type: "lock" });
      }
      expect(wrong).toEqual([]);
    });
  });
});

describe("generated inputs (fast-check, seeded)", () => {
  const good = signKeyToken(claims(), { kid: KID, secretKey: ISSUER.secretKey });
  const goodClaims = verifyKeyToken(good, options);

  it("random bytes: never an exception, never accepted", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 3000 }), (bytes) => {
        const r = verifyKeyToken(bytes, options);
        tally.input();
        tally.refuse();
        return r.ok === false;
      }),
      { numRuns: 3000, seed: 7001 },
    );
  });

  it("a signed token mutated (bit flips, cuts, insertions, splices): accepted only with exactly its signed claims", () => {
    expect(goodClaims.ok).toBe(true);
    const mutation = fc.oneof(
      fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
      fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
      fc.record({ kind: fc.constant("cut" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
      fc.record({
        kind: fc.constant("insert" as const),
        at: fc.nat(),
        bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const bytes = [...good];
        for (const m of mutations) {
          const at = m.at % (bytes.length + 1);
          if (m.kind === "flip" && at < bytes.length) bytes[at]! ^= 1 << m.bit;
          else if (m.kind === "set" && at < bytes.length) bytes[at] = m.value;
          else if (m.kind === "cut") bytes.splice(at, m.length);
          else if (m.kind === "insert") bytes.splice(at, 0, ...m.bytes);
        }
        const token = Uint8Array.from(bytes);
        const r = verifyKeyToken(token, options);
        tally.input();
        if (!r.ok) {
          tally.refuse();
          return true;
        }
        // The only acceptable "mutations" are those that change nothing signed (there are none but identity here).
        return goodClaims.ok && JSON.stringify(toPlain(r.claims)) === JSON.stringify(toPlain(goodClaims.claims));
      }),
      { numRuns: 3000, seed: 7002 },
    );
  });

  it("claims maps of any shape, validly signed: accepted only when every claim holds", () => {
    const claimValue = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constant(LOCK_ID),
      fc.integer({ min: NOW - 10_000, max: NOW + 10_000 }),
      fc.integer(),
      fc.uint8Array({ maxLength: 33 }),
      fc.constant(REVOKED_CTI),
      fc.constant(cnfMap(DEVICE.publicKey)),
      fc.constant(null),
      fc.boolean(),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom("1", "2", "3", "4", "5", "6", "7", "8", "9", "-1"), claimValue),
        (entries) => {
          const base = claimsMap(claims());
          for (const [k, v] of Object.entries(entries)) base.set(Number(k), v);
          const token = signSign1({
            protectedHeader: new Map<number, unknown>([
              [HeaderLabel.alg, -8],
              [HeaderLabel.kid, KID],
              [HeaderLabel.typ, "application/latchkey-key+cwt"],
            ]) as never,
            payload: encodeCbor(base),
            secretKey: ISSUER.secretKey,
          });
          const r = verifyKeyToken(token, options);
          tally.input();
          if (!r.ok) {
            tally.refuse();
            return true;
          }
          const c = r.claims;
          return (
            c.aud === LOCK_ID &&
            NOW >= c.nbf - LEEWAY &&
            NOW < c.exp + LEEWAY &&
            c.cti.length === 16 &&
            !revoked.has(toHex(c.cti)) &&
            c.cnf.length === 32 &&
            c.iss.length > 0 &&
            c.sub.length > 0
          );
        },
      ),
      { numRuns: 1500, seed: 7003 },
    );
  });

  it("protected headers of any shape, validly signed: accepted only with alg EdDSA/Ed25519, the kid and the typ", () => {
    const headerValue = fc.oneof(
      fc.constantFrom(-8, -19, -7, 0, 5, "EdDSA", "application/latchkey-key+cwt", "application/cwt"),
      fc.constant(KID),
      fc.array(fc.integer({ min: -5, max: 20 }), { maxLength: 3 }),
      fc.integer(),
      fc.string({ maxLength: 8 }),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom("1", "2", "3", "4", "16", "33", "-1"), headerValue), (entries) => {
        const h = new Map<number, unknown>([
          [HeaderLabel.alg, -8],
          [HeaderLabel.kid, KID],
          [HeaderLabel.typ, "application/latchkey-key+cwt"],
        ]);
        for (const [k, v] of Object.entries(entries)) h.set(Number(k), v);
        const token = signSign1({ protectedHeader: h as never, payload: signedPayload(), secretKey: ISSUER.secretKey });
        const r = verifyKeyToken(token, options);
        tally.input();
        if (!r.ok) {
          tally.refuse();
          return true;
        }
        const alg = h.get(HeaderLabel.alg);
        const crit = h.get(HeaderLabel.crit);
        return (
          (alg === -8 || alg === -19) &&
          h.get(HeaderLabel.typ) === "application/latchkey-key+cwt" &&
          toHex(r.kid) === toHex(KID) &&
          (crit === undefined || (Array.isArray(crit) && crit.every((l) => l === 1 || l === 4 || l === 16)))
        );
      }),
      { numRuns: 1500, seed: 7004 },
    );
  });

  it("CBOR of any shape as the token or the payload: never an exception, never accepted", () => {
    const cbor = cborValues({
      stringMax: 10,
      bytesMax: 40,
      arrayMax: 5,
      nodes: (v) => [
        fc.dictionary(fc.string({ maxLength: 4 }), v, { maxKeys: 4 }).map((d) => new Map(Object.entries(d))),
        v.map((x) => new CborTag(18, x as CborValue)),
        v.map((x) => new CborTag(61, x as CborValue)),
      ],
    });
    fc.assert(
      fc.property(cbor, (value) => {
        let bytes: Uint8Array;
        try {
          bytes = encodeCbor(value);
        } catch {
          return true;
        }
        const asToken = verifyKeyToken(bytes, options);
        const asPayload = verifyKeyToken(
          signSign1({
            protectedHeader: new Map<number, unknown>([
              [HeaderLabel.alg, -8],
              [HeaderLabel.kid, KID],
              [HeaderLabel.typ, "application/latchkey-key+cwt"],
            ]) as never,
            payload: bytes,
            secretKey: ISSUER.secretKey,
          }),
          options,
        );
        tally.input(2);
        tally.refuse(2);
        return !asToken.ok && !asPayload.ok;
      }),
      { numRuns: 1500, seed: 7005 },
    );
  });
});

describe("cost of refusing", () => {
  it("inputs past the size limit are refused before decoding; within it, work is bounded by the limit (measured)", () => {
    // Deterministic: the refusal names the size, so it came from the length check and not from a parse.
    for (const size of [2049, 65_536, 1 << 20, 16 << 20]) {
      const r = verifyKeyToken(new Uint8Array(size).fill(0x81), options);
      expect(r).toMatchObject({ ok: false, code: "malformed", message: expect.stringContaining("over 2048") });
      tally.input();
      tally.refuse();
    }
    // Measured, not asserted (the machine is shared): time per refusal of hostile shapes at growing sizes.
    const shapes: Record<string, (n: number) => Uint8Array> = {
      nesting: (n) => new Uint8Array(n).fill(0x81),
      "huge lengths": (n) => Uint8Array.from({ length: n }, (_, i) => (i % 9 === 0 ? 0x5b : 0xff)),
      "random bytes": (n) => Uint8Array.from({ length: n }, (_, i) => (i * 2_654_435_761) >>> 24),
      "long text claims": (n) => Uint8Array.from([0xd2, 0x84, 0x59, (n >> 8) & 0xff, n & 0xff, ...new Uint8Array(n)]),
    };
    let worst = 0;
    for (const [name, make] of Object.entries(shapes)) {
      const perCall: number[] = [];
      for (const n of [64, 512, 2048, 1 << 20]) {
        const input = make(n);
        const reps = n > 4096 ? 200 : 2000;
        const t0 = process.hrtime.bigint();
        for (let i = 0; i < reps; i++) verifyKeyToken(input, options);
        perCall.push(Number(process.hrtime.bigint() - t0) / reps / 1000);
        tally.input(reps);
        tally.refuse(reps);
      }
      tally.note(`µs per refusal, ${name} at 64 B/512 B/2 KiB/1 MiB`, perCall.map((v) => v.toFixed(1)).join("/"));
      worst = Math.max(worst, ...perCall);
    }
    tally.note("slowest refusal µs", worst.toFixed(1));
  });
});

function signedPayload(): Uint8Array {
  return encodeCbor(claimsMap(claims()));
}

function toPlain(c: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(c).map(([k, v]) => [k, v instanceof Uint8Array ? toHex(v) : v]));
}

describe("through the cloud's virtual locks (tokens the cloud minted, then tampered with)", () => {
  const resources = new Resources();
  const logs = new LogSink();
  const secrets = new Secrets();
  afterAll(async () => {
    expect(secrets.foundIn(logs.text())).toEqual([]);
    await resources.cleanup();
  });

  it("each tampered or misused token is refused with its code (403), each attempt recorded as a denied event", async () => {
    const clock = new ManualClock(NOW * 1000);
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "virtual-tokens", clock });
    const lh = site.lockHolderId;
    const vc = await site.client.createVendorConnection(lh, { vendor: "virtual", locksToCreate: 2 } as never);
    const { locks } = await site.client.listLocks(lh);
    const [v1, v2] = locks.filter((l) => l.vendorConnectionId === vc.id).map((l) => l.id);
    const device = keyPairFromSeed(new Uint8Array(32).fill(3));
    const otherDevice = keyPairFromSeed(new Uint8Array(32).fill(4));
    const phone = await registerDevice(site.apiUrl, logs, "+4791111111", device.publicKey);
    secrets.add("app access token", phone.token);
    const userId = "+4791111111";
    const iso = (s: number) => new Date(s * 1000).toISOString();
    const k1 = await site.client.createKey(lh, v1!, { userId });
    await site.client.createKey(lh, v2!, { userId });
    const future = await site.client.createKey(lh, v1!, { userId, start: iso(NOW + 86_400), end: iso(NOW + 90_000) });
    const toRevoke = await site.client.createKey(lh, v1!, { userId });
    const shortLived = await site.client.createKey(lh, v1!, { userId, end: iso(NOW + 120) });
    const keys = (await call(site.apiUrl, "GET", "/app/v1/keys", { token: phone.token })).body.keys as Array<{
      keyId: string;
      lockId: string;
      token: string;
    }>;
    const tokenOf = (keyId: string) => fromBase64Url(keys.find((k) => k.keyId === keyId)!.token);
    const onV2 = fromBase64Url(keys.find((k) => k.lockId === v2)!.token);
    const good = tokenOf(k1.id);
    await site.client.revokeKey(lh, toRevoke.id);
    const revokedToken = tokenOf(toRevoke.id);

    const attempt = async (
      token: Uint8Array,
      how: { lock?: string; signer?: Uint8Array; reuseNonce?: boolean; nonceFrom?: string } = {},
    ) => {
      const lockId = how.lock ?? v1!;
      const challenge = await call(site.apiUrl, "POST", `/app/v1/virtual-locks/${how.nonceFrom ?? lockId}/challenge`, {
        token: phone.token,
      });
      const nonce = fromBase64Url(challenge.body.nonce);
      const proof = signUnlockProof({ lockId, nonce, token, deviceSecretKey: how.signer ?? device.secretKey });
      const body = { token: toBase64Url(token), proof: toBase64Url(proof), nonce: toBase64Url(nonce) };
      const path = `/app/v1/virtual-locks/${lockId}/unlock`;
      const first = await call(site.apiUrl, "POST", path, { token: phone.token, body });
      if (!how.reuseNonce) return first;
      return call(site.apiUrl, "POST", path, { token: phone.token, body });
    };
    const sig = good.length - 1;
    const cases: Array<[string, () => Promise<{ status: number; body: { error?: string } }>, string]> = [
      ["control: the minted token", () => attempt(good), "ok"],
      ["control: the minted token in tag 61", () => attempt(Uint8Array.from([0xd8, 0x3d, ...good])), "ok"],
      [
        "a bit of the signature flipped",
        () => attempt(Uint8Array.from(good, (b, i) => (i === sig ? b ^ 1 : b))),
        "bad_signature",
      ],
      ["a byte appended", () => attempt(Uint8Array.from([...good, 0])), "malformed"],
      ["cut short", () => attempt(good.subarray(0, good.length - 10)), "malformed"],
      ["the tag 18 taken off", () => attempt(good.subarray(1)), "malformed"],
      ["the other lock's token", () => attempt(onV2), "wrong_lock"],
      ["a key that starts tomorrow", () => attempt(tokenOf(future.id)), "not_yet_valid"],
      ["a revoked key", () => attempt(revokedToken), "revoked"],
      ["proof signed by another device", () => attempt(good, { signer: otherDevice.secretKey }), "bad_proof"],
      ["the nonce used twice", () => attempt(good, { reuseNonce: true }), "bad_proof"],
      ["a nonce issued by the other lock", () => attempt(good, { nonceFrom: v2! }), "bad_proof"],
      [
        "a token of our own making (self-signed, unknown kid)",
        () =>
          attempt(
            signKeyToken(claims({ aud: v1!, sub: userId, cnf: device.publicKey }), {
              kid: KID,
              secretKey: ISSUER.secretKey,
            }),
          ),
        "unknown_issuer",
      ],
      ...corpus
        .filter((c) => c.expect === "malformed" && c.token.length > 0 && c.token.length < 4000)
        .slice(0, 20)
        .map((c): [string, () => Promise<{ status: number; body: { error?: string } }>, string] => [
          `corpus: ${c.name}`,
          () => attempt(c.token),
          "malformed",
        ]),
    ];
    const wrong: string[] = [];
    for (const [name, run, want] of cases) {
      const answer = await run();
      tally.input();
      const got = answer.status === 200 ? "ok" : answer.status === 403 ? answer.body.error : `HTTP ${answer.status}`;
      if (got !== want) wrong.push(`${name}: expected ${want}, got ${got}`);
      if (answer.status === 403) tally.refuse();
    }
    clock.advance(10 * 60_000);
    const late = await attempt(tokenOf(shortLived.id));
    tally.input();
    if (late.body?.error !== "expired") wrong.push(`a key past its end: got ${late.status} ${late.body?.error}`);
    else tally.refuse();
    expect(wrong).toEqual([]);

    const events = await site.client.allEvents(lh);
    // Two controls and the first use of the nonce that was then replayed open; every other attempt is a denied event.
    expect(events.filter((e) => e.action === "unlocked")).toHaveLength(3);
    expect(events.filter((e) => e.action === "denied").length).toBe(cases.length + 1 + 1 - 3);
  });
});

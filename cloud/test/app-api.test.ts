import {
  fromBase64Url,
  fromHex,
  signUnlockProof,
  TrustStore,
  toBase64Url,
  toHex,
  verifyKeyToken,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { codeFromLog, registerPhone, unlockVirtual } from "./app.js";
import { lh, type Tenant, type TestCloud, tenant, tenantSiteEach, virtualLocks } from "./helpers.js";

let t: TestCloud;
let tn: Tenant;
let lockIds: string[];

tenantSiteEach({}, async (s) => {
  ({ t, tn } = s);
  ({ lockIds } = await virtualLocks(t, tn, 2));
});

describe("changelog 12: prefetch keys (phone app API)", () => {
  it("registers a device by one-time code and downloads every key token of its user, minted for that device", async () => {
    const k1 = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[0]!, userId: "+4791234567", durationMinutes: 60 },
    });
    const k2 = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[1]!, userId: "91234567", start: "2027-02-01T00:00:00Z" },
    });
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[1]!, userId: "+4798765432" } });
    const revoked = await t.call("POST", lh(tn, "/keys"), {
      token: tn.token,
      body: { lockId: lockIds[1]!, userId: "+4791234567" },
    });
    await t.call("PUT", lh(tn, `/keys/${revoked.body.id}`), { token: tn.token, body: { state: "revoked" } });

    const phone = await registerPhone(t, "+47 912 34 567");
    expect(phone.userId).toBe("+4791234567");
    const res = await t.call("GET", "/app/v1/keys", { token: phone.token });
    expect(res.status).toBe(200);
    expect(res.body.userId).toBe("+4791234567");
    expect(res.body.prefetchKeysUrl).toBe("https://app.latchkey.dev/prefetchkeys");
    expect(res.body.keys.map((k: { keyId: string }) => k.keyId).sort()).toEqual([k1.body.id, k2.body.id].sort());
    const issuers = new TrustStore(
      res.body.issuers.map((i: { kid: string; x: string }) => ({ kid: fromHex(i.kid), publicKey: fromHex(i.x) })),
    );
    for (const key of res.body.keys) {
      const verdict = verifyKeyToken(fromBase64Url(key.token), {
        trust: issuers,
        lockId: key.lockId,
        now: Math.floor(Date.parse(key.start) / 1000) + 1,
      });
      expect(verdict.ok).toBe(true);
      if (!verdict.ok) continue;
      expect(verdict.claims.sub).toBe("+4791234567");
      expect(verdict.claims.iss).toBe("latchkey");
      expect(toHex(verdict.claims.cnf)).toBe(toHex(phone.publicKey));
      expect(key.useKeyUrl).toContain(`id=${key.keyId}`);
    }
    const withEnd = res.body.keys.find((k: { keyId: string }) => k.keyId === k1.body.id);
    const claims = verifyKeyToken(fromBase64Url(withEnd.token), {
      trust: issuers,
      lockId: lockIds[0]!,
      now: 1_800_000_001,
    });
    expect(claims.ok && claims.claims.exp).toBe(1_800_003_600);
    const openEnded = res.body.keys.find((k: { keyId: string }) => k.keyId === k2.body.id);
    // no end: the token would live 30 days from its start (here 17 days ahead), but no token lives more than 30 days
    // from its minting (review 12.6); the app re-prefetches
    expect(openEnded.tokenExpires).toBe(new Date(t.clock.now() + 30 * 86_400_000).toISOString());
  });

  it("the same key minted for two devices shares its cti but not its cnf", async () => {
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[0]!, userId: "+4791234567" } });
    const a = await registerPhone(t, "+4791234567", "a");
    const b = await registerPhone(t, "+4791234567", "b");
    const ka = (await t.call("GET", "/app/v1/keys", { token: a.token })).body;
    const kb = (await t.call("GET", "/app/v1/keys", { token: b.token })).body;
    const trust = new TrustStore(
      ka.issuers.map((i: { kid: string; x: string }) => ({ kid: fromHex(i.kid), publicKey: fromHex(i.x) })),
    );
    const ca = verifyKeyToken(fromBase64Url(ka.keys[0].token), { trust, lockId: lockIds[0]!, now: 1_800_000_000 });
    const cb = verifyKeyToken(fromBase64Url(kb.keys[0].token), { trust, lockId: lockIds[0]!, now: 1_800_000_000 });
    expect(ca.ok && cb.ok).toBe(true);
    if (!ca.ok || !cb.ok) return;
    expect(toHex(ca.claims.cti)).toBe(toHex(cb.claims.cti));
    expect(toHex(ca.claims.cnf)).not.toBe(toHex(cb.claims.cnf));
  });

  it("one-time codes: wrong code, 5 attempts, a new code leaves the old valid, rate limit, bad device key", async () => {
    const start = async () =>
      (await t.call("POST", "/app/v1/verification", { body: { phoneNumber: "+4791111111" } })).body
        .verificationId as string;
    const key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    const first = await start();
    const code1 = await codeFromLog(t, "+4791111111");
    const wrong = code1 === "000000" ? "000001" : "000000";
    const res = await t.call("POST", `/app/v1/verification/${first}/confirm`, {
      body: { code: wrong, devicePublicKey: key },
    });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe("invalid_code");
    const mark = t.logs.lines.length;
    const second = await start();
    const code2 = await codeFromLog(t, "+4791111111", mark);
    const old = await t.call("POST", `/app/v1/verification/${first}/confirm`, {
      body: { code: code1, devicePublicKey: key },
    });
    // Asking again (as anyone may) does not void the code already sent (issue 12, finding 4).
    expect(old.status).toBe(200);
    // small-order device key → 422
    const weak = await t.call("POST", `/app/v1/verification/${second}/confirm`, {
      body: { code: code2, devicePublicKey: "01".padEnd(64, "0") },
    });
    expect(weak.status).toBe(422);
    for (let i = 0; i < 5; i++) {
      const r = await t.call("POST", `/app/v1/verification/${second}/confirm`, {
        body: { code: code2 === "000000" ? "000001" : "000000", devicePublicKey: key },
      });
      expect(r.status).toBe(400);
    }
    const sixth = await t.call("POST", `/app/v1/verification/${second}/confirm`, {
      body: { code: code2, devicePublicKey: key },
    });
    expect(sixth.status).toBe(429);
    await start();
    await start();
    await start();
    const limited = await t.call("POST", "/app/v1/verification", { body: { phoneNumber: "+4791111111" } });
    expect(limited.status).toBe(429);
    t.clock.advance(601_000);
    expect((await t.call("POST", "/app/v1/verification", { body: { phoneNumber: "+4791111111" } })).status).toBe(202);
    // codes expire after 5 minutes
    const mark2 = t.logs.lines.length;
    const late = await start();
    const code3 = await codeFromLog(t, "+4791111111", mark2);
    t.clock.advance(301_000);
    const expired = await t.call("POST", `/app/v1/verification/${late}/confirm`, {
      body: { code: code3, devicePublicKey: key },
    });
    expect(expired.body.error).toBe("code_expired");
    expect((await t.call("POST", "/app/v1/verification", { body: { phoneNumber: "12" } })).status).toBe(422);
  });

  it("DELETE /device stops its token", async () => {
    const phone = await registerPhone(t, "+4791234567");
    expect((await t.call("DELETE", "/app/v1/device", { token: phone.token })).status).toBe(204);
    expect((await t.call("GET", "/app/v1/keys", { token: phone.token })).status).toBe(401);
  });
});

describe("virtual locks open for real", () => {
  it("unlocks with a prefetched token and proof, and refuses copies, replays and revoked keys with real events", async () => {
    const newKey = (lockId: string, userId: string) =>
      t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId, userId } });
    const key = await newKey(lockIds[0]!, "+4791234567");
    // The phone also holds a second key for lock 0 and one for lock 1: only a key holder may use a virtual lock at
    // all (review 12.9), so the misuses below are a holder's.
    await newKey(lockIds[0]!, "+4791234567");
    await newKey(lockIds[1]!, "+4791234567");
    await newKey(lockIds[0]!, "+4798765432");
    const phone = await registerPhone(t, "+4791234567");
    const { keys } = (await t.call("GET", "/app/v1/keys", { token: phone.token })).body;
    const token = keys.find((k: { keyId: string }) => k.keyId === key.body.id).token as string;

    const ok = await unlockVirtual(t, phone, lockIds[0]!, token);
    expect(ok.status).toBe(200);
    expect(ok.body.result).toBe("unlocked");

    // A token copied to another phone (whose user holds a key of its own there) is useless without its device key.
    const thief = await registerPhone(t, "+4798765432");
    const stolen = await unlockVirtual(t, thief, lockIds[0]!, token);
    expect(stolen.status).toBe(403);
    expect(stolen.body.error).toBe("bad_proof");

    // A token for lock 0 does not open lock 1.
    const wrongLock = await unlockVirtual(t, phone, lockIds[1]!, token);
    expect(wrongLock.body.error).toBe("wrong_lock");

    // A nonce is used once.
    const challenge = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`, { token: phone.token });
    const proof = toBase64Url(
      signUnlockProof({
        lockId: lockIds[0]!,
        nonce: fromBase64Url(challenge.body.nonce),
        token: fromBase64Url(token),
        deviceSecretKey: phone.secretKey,
      }),
    );
    const once = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: phone.token,
      body: { token, proof, nonce: challenge.body.nonce },
    });
    const twice = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: phone.token,
      body: { token, proof, nonce: challenge.body.nonce },
    });
    expect(once.status).toBe(200);
    expect(twice.body.error).toBe("bad_proof");

    // A challenge is good for 30 s, and for the lock that gave it only.
    const sign = (nonce: string, lockId: string) =>
      toBase64Url(
        signUnlockProof({
          lockId,
          nonce: fromBase64Url(nonce),
          token: fromBase64Url(token),
          deviceSecretKey: phone.secretKey,
        }),
      );
    const late = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`, { token: phone.token });
    t.clock.advance(30_001);
    const tooLate = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: phone.token,
      body: { token, proof: sign(late.body.nonce, lockIds[0]!), nonce: late.body.nonce },
    });
    expect(tooLate.body).toMatchObject({ error: "bad_proof", errorDescription: "the challenge expired" });
    const elsewhere = await t.call("POST", `/app/v1/virtual-locks/${lockIds[1]!}/challenge`, { token: phone.token });
    const borrowed = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: phone.token,
      body: { token, proof: sign(elsewhere.body.nonce, lockIds[0]!), nonce: elsewhere.body.nonce },
    });
    expect(borrowed.body).toMatchObject({ error: "bad_proof", errorDescription: "unknown or reused challenge" });

    await t.call("PUT", lh(tn, `/keys/${key.body.id}`), { token: tn.token, body: { state: "revoked" } });
    const revoked = await unlockVirtual(t, phone, lockIds[0]!, token);
    expect(revoked.body.error).toBe("revoked");

    const garbage = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: phone.token,
      body: { token: "AAAA", proof: "AAAA", nonce: "AAAA" },
    });
    expect(garbage.body.error).toBe("malformed");

    const events = (await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events;
    expect(events.map((e: { action: string; code?: string }) => e.code ?? e.action)).toEqual([
      "malformed",
      "revoked",
      "bad_proof",
      "bad_proof",
      "bad_proof",
      "unlocked",
      "wrong_lock",
      "bad_proof",
      "unlocked",
    ]);
    const revokedEvent = events[1];
    expect(revokedEvent).toMatchObject({ keyId: key.body.id, userId: "+4791234567", lockId: lockIds[0]! });
    expect(revokedEvent.lockName).toMatch(/^Virtual lock \d$/);
  });

  it("review 12.9: a phone without a key for the lock gets the 404 of no such lock on both routes, and no event", async () => {
    const hook = await t.call("POST", lh(tn, "/webhooks"), { token: tn.token, body: { url: "https://example.com/h" } });
    await t.call("POST", lh(tn, "/keys"), { token: tn.token, body: { lockId: lockIds[0]!, userId: "+4791234567" } });
    const holder = await registerPhone(t, "+4791234567");
    const holderToken = (await t.call("GET", "/app/v1/keys", { token: holder.token })).body.keys[0].token as string;
    // The holder's pending challenge: nothing a stranger does may burn it.
    const pending = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`, { token: holder.token });
    expect(pending.status).toBe(200);

    // Another tenant's user, holding a real key and token of its own tenant; and a user of no tenant at all.
    const mallory = await tenant(t, "Mallory");
    const { lockIds: malloryLocks } = await virtualLocks(t, mallory, 1);
    await t.call("POST", lh(mallory, "/keys"), {
      token: mallory.token,
      body: { lockId: malloryLocks[0]!, userId: "+4790000001" },
    });
    const stranger = await registerPhone(t, "+4790000001");
    const strangerToken = (await t.call("GET", "/app/v1/keys", { token: stranger.token })).body.keys[0].token as string;
    const nobody = await registerPhone(t, "+4790000002");

    const deliveries = async () =>
      (await t.call("GET", lh(tn, `/webhooks/${hook.body.id}/deliveries`), { token: tn.token })).body.deliveries.length;
    const deliveriesBefore = await deliveries();
    const unlockBody = {
      token: strangerToken,
      proof: toBase64Url(new Uint8Array(64)),
      nonce: pending.body.nonce as string,
    };
    for (const phone of [stranger, nobody]) {
      for (const [route, body] of [
        ["challenge", undefined],
        ["unlock", unlockBody],
      ] as const) {
        const missing = await t.call("POST", `/app/v1/virtual-locks/no-such-lock/${route}`, {
          token: phone.token,
          body,
        });
        const refused = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/${route}`, {
          token: phone.token,
          body,
        });
        expect(refused.status, `${phone.userId} ${route}`).toBe(404);
        expect(refused.body, `${phone.userId} ${route}: the answer for a lock that does not exist`).toEqual(
          missing.body,
        );
        expect(JSON.stringify(refused.body)).not.toContain(lockIds[0]!);
      }
    }
    // No event, no webhook delivery for the victim tenant; the holder's challenge still opens the lock.
    expect((await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events).toEqual([]);
    expect(await deliveries()).toBe(deliveriesBefore);
    const proof = signUnlockProof({
      lockId: lockIds[0]!,
      nonce: fromBase64Url(pending.body.nonce),
      token: fromBase64Url(holderToken),
      deviceSecretKey: holder.secretKey,
    });
    const opened = await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/unlock`, {
      token: holder.token,
      body: { token: holderToken, proof: toBase64Url(proof), nonce: pending.body.nonce },
    });
    expect(opened.status).toBe(200);
    const events = (await t.call("GET", lh(tn, "/events"), { token: tn.token })).body.events;
    expect(events.map((e: { action: string }) => e.action)).toEqual(["unlocked"]);
    expect(await deliveries()).toBe(deliveriesBefore + 1);
  });

  it("only virtual locks, only with an app token", async () => {
    const phone = await registerPhone(t, "+4791234567");
    expect((await t.call("POST", "/app/v1/virtual-locks/no-such-lock/challenge", { token: phone.token })).status).toBe(
      404,
    );
    expect((await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`, { token: tn.token })).status).toBe(
      403,
    );
    expect((await t.call("POST", `/app/v1/virtual-locks/${lockIds[0]!}/challenge`)).status).toBe(401);
  });
});

import {
  decodeSetupCode,
  deriveLockPassword,
  encodeTimeRequest,
  keyPairFromSeed,
  NonceBook,
  signLockState,
  signTimeAnswer,
  Topics,
  toBase64Url,
  toHex,
  verifyLockState,
  verifyTimeAnswer,
} from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt, { type MqttClient } from "mqtt";
import { describe, expect, it } from "vitest";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Issue 13, the bridge as courier (docs/mqtt.md, "Signed state and time") through the real cloud, the bridge and the
 * lock simulator on 127.0.0.1: what a lock can try against the relay. A claimed lock gets the cloud's documents and
 * nothing else; a time-request flood costs the cloud at most one request in flight; a request for another lock, a
 * forged state or time answer, and an unclaimed lock get nothing. Every secret made (claim secret and setup code
 * included) must be in no log line (ReliabilityFile).
 */
const file = new ReliabilityFile("bridge-relay");
const { tally, logs, secrets } = file;
const t = new Topics();
const DOOR = "relay-door";
const OTHER = "relay-other";
const ATTACKER = keyPairFromSeed(new Uint8Array(32).fill(0x33));

interface RelayHealth {
  states: { documents: number; relayed: number };
  time: { inFlight: number; relayed: number; failures: number; dropped: number };
}

describe("issue 13: the bridge relays signed state and time, and nothing a lock forges", () => {
  it("carries the cloud's documents to a claimed lock only, bounded, and refuses forged ones", async () => {
    // The test claims the door itself (through the Integrator API), and leaves the other lock unclaimed.
    const site = await ReliabilitySite.start(file.resources, logs, secrets, {
      seed: "bridge-relay",
      claimLocks: false,
    });
    const bridge = await site.startBridge();
    await bridge.ready;
    const relay = () => bridge.health().relay as RelayHealth;
    const door = await site.startLock(DOOR);
    const other = await site.startLock(OTHER);
    await pollUntil(
      "both locks in the cloud",
      async () => (await site.client.listLocks(site.lockHolderId)).locks.length === 2,
      { timeoutMs: 60_000, intervalMs: 50 },
    );
    const setupCode = door.setupCode;
    const { claimSecret } = decodeSetupCode(setupCode);
    secrets.add("setup code", setupCode);
    secrets.add("claim secret (hex)", toHex(claimSecret));
    secrets.add("claim secret (base64url)", toBase64Url(claimSecret));
    const claim = await fetch(`${site.apiUrl}/integrators/v1/lock-holders/${site.lockHolderId}/locks/claims`, {
      method: "POST",
      headers: { authorization: `Bearer ${site.client.accessToken}`, "content-type": "application/json" },
      body: JSON.stringify({ setupCode }),
    });
    expect(claim.status).toBe(201);
    // The test speaks for both locks from here, as a misbehaving lock would (the simulator only does what it should).
    await door.stop();
    await other.stop();

    const clients: MqttClient[] = [];
    file.resources.defer("close the lock connections", () =>
      Promise.all(clients.map((c) => c.endAsync(true).catch(() => {}))),
    );
    const heard = new Map<string, Array<{ topic: string; payload: Uint8Array }>>();
    const speakFor = async (lockId: string) => {
      const client = await mqtt.connectAsync(bridge.mqttUrl, {
        clientId: lockId,
        username: lockId,
        password: deriveLockPassword(site.siteSecret, lockId),
        clean: true,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      clients.push(client);
      const mine = heard.get(lockId) ?? [];
      heard.set(lockId, mine);
      client.on("message", (topic, payload) => mine.push({ topic, payload: new Uint8Array(payload) }));
      await client.subscribeAsync([t.lock(lockId, "state"), t.lock(lockId, "time/answer")], { qos: 1 });
      return client;
    };
    const doorLine = await speakFor(DOOR);
    await speakFor(OTHER);
    const doorHeard = heard.get(DOOR)!;
    const state = await pollUntil("the door's state", () => doorHeard.find((m) => m.topic.endsWith("/state")), {
      timeoutMs: 30_000,
      intervalMs: 20,
    });
    const pinned = verifyLockState(state.payload, { lockId: DOOR, claimSecret });
    if (!pinned.ok) throw new Error(`${pinned.code}: ${pinned.message}`);

    tally.case("issue 13 relay: a time-request flood from one lock costs the cloud at most one request in flight");
    // The simulated door asked for the time itself before it stopped: only what the flood does counts.
    await pollUntil("the door's own time requests done", () => relay().time.inFlight === 0, { timeoutMs: 30_000 });
    const since = relay().time;
    const FLOOD = 40;
    const nonces = new NonceBook(30_000, 64);
    const flood: Promise<unknown>[] = [];
    for (let n = 0; n < FLOOD; n++) {
      const nonce = nonces.issue(
        Uint8Array.from({ length: 16 }, (_, i) => (i === 0 ? n : 0x70)),
        0,
      );
      flood.push(
        doorLine.publishAsync(t.lock(DOOR, "time/request"), Buffer.from(encodeTimeRequest({ lock: DOOR, nonce })), {
          qos: 1,
        }),
      );
    }
    await Promise.all(flood);
    const flooded = () => ({
      relayed: relay().time.relayed - since.relayed,
      dropped: relay().time.dropped - since.dropped,
      failures: relay().time.failures - since.failures,
    });
    await pollUntil(
      "every request relayed or dropped",
      () => {
        const f = flooded();
        return relay().time.inFlight === 0 && f.relayed + f.dropped + f.failures === FLOOD;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
    const answers = () => doorHeard.filter((m) => m.topic.endsWith("/time/answer"));
    await pollUntil("the answers", () => answers().length === flooded().relayed, { timeoutMs: 30_000 });
    const { relayed, dropped, failures } = flooded();
    expect(failures).toBe(0);
    expect(relayed).toBeGreaterThanOrEqual(1);
    tally.input(FLOOD);
    tally.refuse(dropped);
    tally.note("time requests in the flood relayed to the cloud", relayed);
    // Every answer that reached the lock is the cloud's, for one of its own nonces.
    for (const answer of answers()) {
      const verdict = verifyTimeAnswer(answer.payload, { lockId: DOOR, authority: pinned.authority, nonces, nowMs: 0 });
      expect(verdict.ok).toBe(true);
    }

    const refusedPublish = async (lockId: string, topic: string, payload: Uint8Array) => {
      const client = await speakFor(lockId);
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      client.publish(topic, Buffer.from(payload), { qos: 1 });
      await closed;
      tally.input();
      tally.refuse();
    };

    tally.case("issue 13 relay: a time request naming another lock is refused, and reaches no cloud");
    const before = relay().time;
    await refusedPublish(
      OTHER,
      t.lock(OTHER, "time/request"),
      encodeTimeRequest({ lock: DOOR, nonce: new Uint8Array(16) }),
    );
    expect(relay().time).toEqual(before);

    tally.case("issue 13 relay: a lock publishing a state or a time answer, its own or another lock's, is refused");
    const forgedState = (lock: string) =>
      signLockState(
        {
          lock,
          v: pinned.state.v + 1_000_000,
          iat: pinned.state.iat,
          issuers: [{ kid: new Uint8Array(8).fill(0x33), x: ATTACKER.publicKey, notAfter: pinned.state.iat + 86_400 }],
          revoked: [],
          ack: 0,
          reportKey: pinned.state.reportKey,
        },
        { secretKey: ATTACKER.secretKey },
      );
    const forgedAnswer = (lock: string) =>
      signTimeAnswer({ lock, nonce: new Uint8Array(16).fill(0x70), time: 0 }, ATTACKER.secretKey);
    await refusedPublish(OTHER, t.lock(DOOR, "state"), forgedState(DOOR));
    await refusedPublish(OTHER, t.lock(OTHER, "state"), forgedState(OTHER));
    await refusedPublish(OTHER, t.lock(DOOR, "time/answer"), forgedAnswer(DOOR));
    await refusedPublish(OTHER, t.lock(OTHER, "time/answer"), forgedAnswer(OTHER));
    // The door, subscribing afresh, is shown the cloud's document and nothing forged.
    const fresh = await mqtt.connectAsync(bridge.mqttUrl, {
      clientId: DOOR,
      username: DOOR,
      password: deriveLockPassword(site.siteSecret, DOOR),
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    clients.push(fresh);
    const shown: Uint8Array[] = [];
    fresh.on("message", (_topic, payload) => shown.push(new Uint8Array(payload)));
    await fresh.subscribeAsync([t.lock(DOOR, "state")], { qos: 1 });
    await pollUntil("the retained state", () => shown.length > 0, { timeoutMs: 30_000 });
    for (const bytes of shown)
      expect(verifyLockState(bytes, { lockId: DOOR, authority: pinned.authority }).ok, "only the cloud's").toBe(true);

    tally.case("issue 13 relay: an unclaimed lock gets no state and no time answer");
    const otherLine2 = await speakFor(OTHER);
    const failuresBefore = relay().time.failures;
    await otherLine2.publishAsync(
      t.lock(OTHER, "time/request"),
      Buffer.from(encodeTimeRequest({ lock: OTHER, nonce: new Uint8Array(16).fill(2) })),
      { qos: 1 },
    );
    await pollUntil("the cloud refused it", () => relay().time.failures > failuresBefore, { timeoutMs: 30_000 });
    tally.input();
    expect(heard.get(OTHER)).toEqual([]);
    tally.refuse();
    expect(relay().states.documents).toBe(1);
  });
});

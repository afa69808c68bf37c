import {
  decodeSetupCode,
  encodeTimeRequest,
  lockMqttLogin,
  ManualClock,
  NonceBook,
  Topics,
  verifyLockState,
  verifyTimeAnswer,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, describe, expect, it } from "vitest";
import { cloudLocks, createSite, SITE_SECRET, type Site, until } from "./helpers.js";

/**
 * Issue 13's courier path through the real cloud, the bridge and the lock simulator (docs/mqtt.md, "Signed state and
 * time"): a lock claimed with its setup code gets its signed state on its `state` topic, verifiable with the claim
 * secret; a revocation in the cloud brings a newer one; its time request is answered with a document signed by the
 * same authority; an unclaimed lock gets nothing. To check the bytes on the wire as any lock firmware receives them,
 * once the bridge has reported each lock the test stops the simulator and speaks for it with its own MQTT login.
 */
const t = new Topics();

interface RelayHealth {
  states: { documents: number; relayed: number };
  time: { failures: number };
}

interface LockLine {
  client: MqttClient;
  heard: Array<{ topic: string; payload: Uint8Array; retain: boolean }>;
}

describe("whole site: the bridge carries signed state and time", () => {
  let site: Site | null = null;
  const clients: MqttClient[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
    await site?.close();
    site = null;
  });

  async function speakFor(lockId: string): Promise<LockLine> {
    const heard: LockLine["heard"] = [];
    const login = lockMqttLogin(SITE_SECRET, lockId);
    const client = await mqtt.connectAsync(site!.bridge!.mqttUrl, { ...login, clean: true, reconnectPeriod: 0 });
    clients.push(client);
    client.on("message", (topic, payload, packet) =>
      heard.push({ topic, payload: new Uint8Array(payload), retain: packet.retain }),
    );
    await client.subscribeAsync([t.lock(lockId, "state"), t.lock(lockId, "time/answer")], { qos: 1 });
    return { client, heard };
  }

  it("a claimed lock gets its state and time answers, a revocation a newer state, an unclaimed one nothing", async () => {
    // This test claims the one lock itself, and leaves the other unclaimed (the harness would claim both).
    site = await createSite({ clock: new ManualClock(1_800_000_000_000), claimLocks: false });
    await site.startBridge();
    const front = await site.startLock("front-door");
    const back = await site.startLock("back-door");
    await until("the bridge reported both locks", async () => (await cloudLocks(site!)).length === 2);
    const setupCode = front.setupCode;
    const claimed = await site.api.call("POST", site.lockHolder("/locks/claims"), { setupCode });
    expect(claimed.status).toBe(201);
    const { claimSecret } = decodeSetupCode(setupCode);
    await front.stop();
    await back.stop();

    // Connecting makes the bridge fetch the lock's document; it is there, retained, exactly as the cloud signed it.
    const door = await speakFor("front-door");
    const first = await until("the front door's state", () => door.heard.find((m) => m.topic.endsWith("/state")));
    const pinned = verifyLockState(first.payload, { lockId: "front-door", claimSecret });
    if (!pinned.ok) throw new Error(`${pinned.code}: ${pinned.message}`);
    expect(pinned.pin).toBe("first");
    expect(pinned.state.revoked).toEqual([]);
    const other = await speakFor("back-door");

    // A revocation in the cloud: on the change feed, after which the bridge fetches the site's documents again.
    const key = await site.api.ok("POST", site.lockHolder("/locks/front-door/keys"), { userId: "+4790000001" });
    await site.api.ok("PUT", site.lockHolder(`/keys/${key.id}`), { state: "revoked" });
    const newer = await until("a newer state with the revocation", () =>
      door.heard.find((m) => {
        const applied = verifyLockState(m.payload, {
          lockId: "front-door",
          authority: pinned.authority,
          currentV: pinned.state.v,
        });
        return applied.ok && applied.state.revoked.length === 1 ? applied : undefined;
      }),
    );
    expect(newer).toBeDefined();

    // A time request from the lock's own nonce book, answered by the same authority. The lock's local clock stands
    // still in this test (its reading is the nonce's issue time), so the round trip the lock measures is 0.
    const nonces = new NonceBook();
    const nonce = nonces.issue(new Uint8Array(16).fill(0x7a), 0);
    await door.client.publishAsync(
      t.lock("front-door", "time/request"),
      Buffer.from(encodeTimeRequest({ lock: "front-door", nonce })),
      { qos: 1 },
    );
    const answer = await until("the time answer", () => door.heard.find((m) => m.topic.endsWith("/time/answer")));
    const time = verifyTimeAnswer(answer.payload, {
      lockId: "front-door",
      authority: pinned.authority,
      nonces,
      nowMs: 0,
    });
    expect(time).toEqual({ ok: true, time: 1_800_000_000_000, rttMs: 0 });

    // The unclaimed lock: the cloud has no document for it, and its time request is answered by nobody.
    const relay = () => site!.bridge!.health().relay as RelayHealth;
    const failuresBefore = relay().time.failures;
    await other.client.publishAsync(
      t.lock("back-door", "time/request"),
      Buffer.from(encodeTimeRequest({ lock: "back-door", nonce: new Uint8Array(16).fill(1) })),
      { qos: 1 },
    );
    await until("the cloud refused the unclaimed lock's time request", () => relay().time.failures > failuresBefore);
    expect(other.heard).toEqual([]);
    expect(relay().states.documents).toBe(1);
    expect(relay().states.relayed).toBeGreaterThanOrEqual(2);
  });
});

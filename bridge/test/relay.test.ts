import {
  encodeTimeRequest,
  keyPairFromSeed,
  lockMqttLogin,
  ManualClock,
  NonceBook,
  pinTag,
  signLockState,
  signTimeAnswer,
  Topics,
  verifyLockState,
  verifyTimeAnswer,
} from "@latchkey/protocol";
import Database from "better-sqlite3";
import mqtt, { type MqttClient } from "mqtt";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges, startTestBridge } from "./helpers/bridge.js";
import { SITE_SECRET, tempDir } from "./helpers/fixtures.js";
import { TestCloud } from "./helpers/test-cloud.js";
import { waitFor } from "./helpers/wait.js";

/**
 * The courier path of issue 13 (docs/mqtt.md, "Signed state and time"): the bridge fetches each lock's signed state
 * from the cloud, keeps it, and publishes the cloud's bytes retained on the lock's `state` topic; it relays a lock's
 * time request to the cloud and the signed answer back. Documents here are real ones, signed with protocol by a test
 * authority, and verified at the receiving end as a lock would.
 */
const t = new Topics();
const authority = keyPairFromSeed(new Uint8Array(32).fill(7));
const claimSecret = new Uint8Array(16).fill(0x5c);
const reportKey = { id: new Uint8Array(8).fill(1), x: new Uint8Array(32).fill(2) };

function signedState(lockId: string, v: number, revoked: Uint8Array[] = []) {
  const iat = Math.floor(v / 1000);
  const state = signLockState(
    { lock: lockId, v, iat, issuers: [], revoked: revoked.map((cti) => ({ cti })), ack: 0, reportKey },
    { secretKey: authority.secretKey, pinTag: pinTag(claimSecret, lockId, authority.publicKey) },
  );
  return { v, iat, state };
}

interface Heard {
  topic: string;
  payload: Buffer;
  retain: boolean;
}

describe("signed state and time relay", () => {
  let cloud: TestCloud;
  let dir: ReturnType<typeof tempDir>;
  let bridge: RunningBridge | null = null;
  const clients: MqttClient[] = [];
  const clock = new ManualClock(1_800_000_000_000);

  beforeEach(async () => {
    cloud = new TestCloud();
    await cloud.start();
    dir = tempDir();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
    await bridge?.stop();
    bridge = null;
    await cloud.stop();
    dir.remove();
  });

  /** A lock's MQTT connection subscribed to its state and time answers; everything it hears is kept. */
  async function lockClient(lockId: string): Promise<{ client: MqttClient; heard: Heard[] }> {
    const heard: Heard[] = [];
    const login = lockMqttLogin(SITE_SECRET, lockId);
    const client = await mqtt.connectAsync(bridge!.mqttUrl, { ...login, clean: true, reconnectPeriod: 0 });
    clients.push(client);
    client.on("message", (topic, payload, packet) => heard.push({ topic, payload, retain: packet.retain }));
    const granted = await client.subscribeAsync([t.lock(lockId, "state"), t.lock(lockId, "time/answer")], { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1, 1]);
    return { client, heard };
  }

  it("publishes each lock's signed state retained, unaltered, and a newer one after a feed batch", async () => {
    siteChanges(cloud, ["door-a", "door-b"]);
    const first = signedState("door-a", 1_800_000_000_000);
    cloud.states.set("door-a", first);
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock }));
    await bridge.ready;

    const a = await lockClient("door-a");
    const got = await waitFor("door-a's state", () => a.heard.find((m) => m.topic === t.lock("door-a", "state")));
    expect(new Uint8Array(got.payload)).toEqual(first.state);
    const verified = verifyLockState(new Uint8Array(got.payload), { lockId: "door-a", claimSecret });
    expect(verified.ok).toBe(true);

    // The cloud has no state for door-b (not claimed): 404 is no document, and nothing is published.
    await waitFor("door-b asked for", () => cloud.stateFetches.includes("door-b"));
    const b = await lockClient("door-b");
    await waitFor(
      "door-b asked again on connect",
      () => cloud.stateFetches.filter((id) => id === "door-b").length >= 2,
    );

    // A revocation in the cloud: a newer document, found after the next feed batch.
    const second = signedState("door-a", first.v + 5_000, [new Uint8Array(16).fill(9)]);
    cloud.states.set("door-a", second);
    cloud.append({
      kind: "key",
      keyId: "k1",
      lockId: "door-a",
      cti: "09".repeat(16),
      sub: "+4790000001",
      nbf: 1_799_000_000,
      exp: 1_801_000_000,
      state: "revoked",
    });
    const newer = await waitFor("the newer state", () =>
      a.heard.find((m) => m.topic === t.lock("door-a", "state") && m.payload.length === second.state.length),
    );
    expect(new Uint8Array(newer.payload)).toEqual(second.state);
    if (!verified.ok) throw new Error("unreachable");
    const applied = verifyLockState(new Uint8Array(newer.payload), {
      lockId: "door-a",
      authority: verified.authority,
      currentV: first.v,
    });
    expect(applied.ok && applied.state.revoked.length).toBe(1);

    // A later subscriber gets the latest document from the broker (retained), and nothing was sent to door-b.
    await a.client.endAsync(true);
    const again = await lockClient("door-a");
    const retained = await waitFor("the retained state", () => again.heard.find((m) => m.retain));
    expect(new Uint8Array(retained.payload)).toEqual(second.state);
    expect(b.heard).toEqual([]);

    const health = (await (await fetch(`${bridge.metricsUrl}/healthz`)).json()) as {
      relay: { states: { documents: number; relayed: number } };
    };
    expect(health.relay.states).toMatchObject({ documents: 1, relayed: 2 });
    const metrics = await (await fetch(`${bridge.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/latchkey_bridge_lock_states_relayed_total 2/);

    // Kept in the bridge's database, bytes as the cloud sent them.
    await bridge.stop();
    bridge = null;
    const db = new Database(`${dir.path}/bridge.db`, { readonly: true });
    const row = db.prepare("SELECT v, document FROM lock_states WHERE lock_id = 'door-a'").get() as {
      v: number;
      document: Buffer;
    };
    db.close();
    expect(row.v).toBe(second.v);
    expect(new Uint8Array(row.document)).toEqual(second.state);
  });

  it("never publishes an older document, and clears a lock's state once the cloud has none", async () => {
    siteChanges(cloud, ["door-a"]);
    const newest = signedState("door-a", 1_800_000_009_000);
    cloud.states.set("door-a", newest);
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock }));
    await bridge.ready;
    const a = await lockClient("door-a");
    await waitFor("door-a's state", () => a.heard.length === 1);

    // A cloud answering an older v (a restored copy) changes nothing here.
    cloud.states.set("door-a", signedState("door-a", 1_800_000_001_000));
    const fetches = cloud.stateFetches.length;
    cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "c3d4", x: "22".repeat(32), retired: false });
    await waitFor("a fetch after the batch", () => cloud.stateFetches.length > fetches);
    // The lock reconnecting is a fetch too: one more round trip after the one above, still nothing new.
    await a.client.endAsync(true);
    const b = await lockClient("door-a");
    const retained = await waitFor("the retained state", () => b.heard.find((m) => m.retain));
    expect(new Uint8Array(retained.payload)).toEqual(newest.state);

    // Unclaimed in the cloud: 404 → the kept document is dropped and the retained one cleared.
    cloud.states.delete("door-a");
    cloud.append({ kind: "issuer", lockHolderId: "lh_1", kid: "e5f6", x: "33".repeat(32), retired: false });
    await waitFor("the retained state cleared", () => b.heard.some((m) => m.payload.length === 0));
    await waitFor("no document kept", async () => {
      const health = (await (await fetch(`${bridge!.metricsUrl}/healthz`)).json()) as {
        relay: { states: { documents: number } };
      };
      return health.relay.states.documents === 0;
    });
  });

  it("relays a lock's time request and the signed answer, one in flight per lock", async () => {
    siteChanges(cloud, ["door-a"]);
    cloud.timeAnswerer = (lockId, request) =>
      signTimeAnswer({ lock: lockId, nonce: request.slice(-16), time: 1_800_000_123_000 }, authority.secretKey);
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock }));
    await bridge.ready;
    const a = await lockClient("door-a");
    const nonces = new NonceBook();
    const nonce = nonces.issue(new Uint8Array(16).fill(0x42), 1_000);
    const request = encodeTimeRequest({ lock: "door-a", nonce });

    // Held at the cloud: a second request meanwhile is dropped (the lock asks again later).
    let release!: () => void;
    cloud.timeGate = new Promise((resolve) => {
      release = resolve;
    });
    await a.client.publishAsync(t.lock("door-a", "time/request"), Buffer.from(request), { qos: 1 });
    await waitFor("the request at the cloud", () => cloud.timeRequests.length === 1);
    const other = encodeTimeRequest({ lock: "door-a", nonce: new Uint8Array(16).fill(0x43) });
    await a.client.publishAsync(t.lock("door-a", "time/request"), Buffer.from(other), { qos: 1 });
    await waitFor("the second request dropped", async () => {
      const text = await (await fetch(`${bridge!.metricsUrl}/metrics`)).text();
      return /latchkey_bridge_time_requests_dropped_total\{reason="in_flight"\} 1/.test(text);
    });
    release();
    cloud.timeGate = null;

    const answer = await waitFor("the time answer", () =>
      a.heard.find((m) => m.topic === t.lock("door-a", "time/answer")),
    );
    expect(answer.retain).toBe(false);
    expect(new Uint8Array(cloud.timeRequests[0]!.request)).toEqual(request);
    const verified = verifyTimeAnswer(new Uint8Array(answer.payload), {
      lockId: "door-a",
      authority: authority.publicKey,
      nonces,
      nowMs: 1_200,
    });
    expect(verified).toEqual({ ok: true, time: 1_800_000_123_000, rttMs: 200 });
    expect(cloud.timeRequests).toHaveLength(1);
    expect(a.heard.filter((m) => m.topic.endsWith("/time/answer"))).toHaveLength(1);
  });

  it("gives up a time request the cloud has not answered within the cap, and relays the next one", async () => {
    siteChanges(cloud, ["door-a"]);
    cloud.timeAnswerer = (lockId, request) =>
      signTimeAnswer({ lock: lockId, nonce: request.slice(-16), time: 1_800_000_123_000 }, authority.secretKey);
    // The cap shortened so the test need not wait 5 s; the cloud is held until the bridge has given up.
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock, timeRelayCapMs: 50 }));
    await bridge.ready;
    const a = await lockClient("door-a");
    let release!: () => void;
    cloud.timeGate = new Promise((resolve) => {
      release = resolve;
    });
    const late = encodeTimeRequest({ lock: "door-a", nonce: new Uint8Array(16).fill(0x51) });
    await a.client.publishAsync(t.lock("door-a", "time/request"), Buffer.from(late), { qos: 1 });
    const relay = () =>
      (bridge!.health().relay as { time: { inFlight: number; dropped: number; relayed: number } }).time;
    await waitFor("the late request given up", () => relay().dropped === 1 && relay().inFlight === 0);
    cloud.timeGate = null;
    release();

    const next = encodeTimeRequest({ lock: "door-a", nonce: new Uint8Array(16).fill(0x52) });
    await a.client.publishAsync(t.lock("door-a", "time/request"), Buffer.from(next), { qos: 1 });
    const answer = await waitFor("the next answer", () => a.heard.find((m) => m.topic.endsWith("/time/answer")));
    await waitFor("both requests at the cloud", () => cloud.timeRequests.length === 2);
    // Only the answer to the second request reached the lock; the late one was dropped.
    expect(a.heard.filter((m) => m.topic.endsWith("/time/answer"))).toHaveLength(1);
    const nonces = new NonceBook();
    nonces.issue(new Uint8Array(16).fill(0x52), 0);
    expect(
      verifyTimeAnswer(new Uint8Array(answer.payload), {
        lockId: "door-a",
        authority: authority.publicKey,
        nonces,
        nowMs: 0,
      }),
    ).toMatchObject({ ok: true });
    expect(relay()).toMatchObject({ relayed: 1, dropped: 1 });
  });

  it("refuses a time request naming another lock, and a lock publishing a state or a time answer", async () => {
    siteChanges(cloud, ["door-a", "door-b"]);
    cloud.timeAnswerer = () => new Uint8Array([1]);
    ({ bridge } = await startTestBridge(cloud, dir.path, {}, { clock }));
    await bridge.ready;
    const b = await lockClient("door-b");
    const refused = async (topic: string, payload: Uint8Array) => {
      const a = await lockClient("door-a");
      const closed = new Promise<void>((resolve) => a.client.once("close", () => resolve()));
      a.client.publish(topic, Buffer.from(payload), { qos: 1 });
      await closed;
    };
    const forged = signedState("door-b", 1_900_000_000_000).state;
    await refused(t.lock("door-a", "time/request"), encodeTimeRequest({ lock: "door-b", nonce: new Uint8Array(16) }));
    await refused(t.lock("door-b", "state"), forged);
    await refused(t.lock("door-a", "state"), forged);
    await refused(t.lock("door-b", "time/answer"), new Uint8Array([1, 2, 3]));
    await refused(t.lock("door-a", "time/answer"), new Uint8Array([1, 2, 3]));
    expect(cloud.timeRequests).toEqual([]);
    expect(b.heard).toEqual([]);
  });
});

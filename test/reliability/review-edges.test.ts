import { chmodSync, existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { CHALLENGES_PER_CONNECTION, connectToLock, seededRandom, startLock, VirtualRadio } from "@latchkey/lock-sim";
import {
  deriveLockPassword,
  encodeCommandResult,
  keyPairFromSeed,
  ManualClock,
  sealReport,
  signKeyToken,
  signUnlockProof,
  toBase64Url,
  toHex,
} from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt from "mqtt";
import { describe, expect, it } from "vitest";
import { skipWithoutMosquitto, startSiteMosquitto } from "../src/mosquitto.js";
import { call } from "../src/reliability/bridge-api.js";
import { metricValue, scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { registerDevice } from "../src/reliability/phone.js";
import { PlayedCloud } from "../src/reliability/played-cloud.js";
import { ReliabilitySite } from "../src/reliability/site.js";

/**
 * Issue 12, findings 8, 9, 12 and 2 (bridge side), each through the real component: the lock simulator's BLE GATT
 * service on a virtual radio, the cloud's app API, the bridge on its embedded broker and on a Mosquitto started from
 * the generated files, the bridge as its own process.
 */
const file = new ReliabilityFile("review-edges");
const { tally, logs, secrets } = file;

const NOW_S = 1_800_000_000;

describe("review 12.8: challenges over BLE", () => {
  it("a stranger in radio range cannot evict a phone's pending challenge; its flood is refused per connection", async () => {
    const clock = new ManualClock(NOW_S * 1000);
    const issuer = keyPairFromSeed(new Uint8Array(32).fill(0x81));
    const kid = new Uint8Array(8).fill(0x81);
    const device = keyPairFromSeed(new Uint8Array(32).fill(0x82));
    const radio = new VirtualRadio({ maxConnectionsPerPeripheral: 2 });
    const lock = await startLock({
      lockId: "edge-door",
      dataDir: file.resources.tempDir("latchkey-edges-lock-"),
      clock,
      random: seededRandom("edge-door"),
      radio,
      tickIntervalMs: 0,
    });
    file.resources.defer("stop the lock", () => lock.stop());
    // The lock trusts the issuer only through its authority's signed state, and opens only with signed time.
    new PlayedCloud("edge-door", clock).provision(lock, [
      { kid, publicKey: issuer.publicKey, notAfter: NOW_S + 86_400 },
    ]);
    const token = signKeyToken(
      {
        iss: "https://issuer.test",
        sub: "+4790000088",
        aud: "edge-door",
        nbf: NOW_S - 60,
        exp: NOW_S + 3600,
        iat: NOW_S - 60,
        cti: new Uint8Array(16).fill(0x88),
        cnf: device.publicKey,
      },
      { kid, secretKey: issuer.secretKey },
    );
    const noble = async () => radio.noble();
    const phone = await connectToLock(await noble(), "edge-door");
    file.resources.defer("close the phone's session", () => phone.close());
    const challenge = await phone.request({ id: "phone-c", type: "challenge" });
    expect(challenge.ok).toBe(true);

    const stranger = await connectToLock(await noble(), "edge-door");
    const answers = [];
    for (let i = 0; i < 100; i++) answers.push(await stranger.request({ id: `s${i}`, type: "challenge" }));
    // Its share is its right; every challenge past it is an attempt to be refused.
    tally.input(100 - CHALLENGES_PER_CONNECTION);
    // The phone's challenge is still there: it opens.
    const proof = signUnlockProof({
      lockId: "edge-door",
      nonce: challenge.nonce!,
      token,
      deviceSecretKey: device.secretKey,
    });
    const opened = await phone.request({ id: "phone-u", type: "unlock", token, nonce: challenge.nonce!, proof });
    expect(opened).toMatchObject({ ok: true, state: "unlocked" });
    const refused = answers.filter((a) => !a.ok && a.code === "too_many_challenges");
    tally.refuse(refused.length);
    expect(answers.filter((a) => a.ok)).toHaveLength(CHALLENGES_PER_CONNECTION);
    expect(refused).toHaveLength(100 - CHALLENGES_PER_CONNECTION);

    await stranger.close();
    tally.case(
      "review 12.8: a BLE connection's challenges over its share (too_many_challenges); no live nonce evicted",
    );
    tally.note("review 12.8: stranger challenges refused", refused.length);
  });
});

describe("review 12.9: virtual locks across tenants", () => {
  it("an app user without a key for the lock gets the 404 of a lock that does not exist, and fires no webhook", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "edges-virtual" });
    const lh = site.lockHolderId;
    const vc = await site.client.createVendorConnection(lh, { vendor: "virtual", locksToCreate: 1 } as never);
    const victimLock = (await site.client.listLocks(lh)).locks.find((l) => l.vendorConnectionId === vc.id)!.id;
    // Unlock attempts: what a stranger's probe could fire (the key created below has its own type).
    const hook = await site.client.createWebhook(lh, "http://127.0.0.1:9/edges-hook", ["key_event.created"]);
    secrets.add("webhook secret", hook.secret);
    // Another tenant (another lock holder) with a virtual lock and a key of its own for its user.
    const other = await site.client.createLockHolder({ name: "Other homes", countryIso: "NO" });
    const otherVc = await site.client.createVendorConnection(other.id, {
      vendor: "virtual",
      locksToCreate: 1,
    } as never);
    const otherLock = (await site.client.listLocks(other.id)).locks.find((l) => l.vendorConnectionId === otherVc.id)!;
    await site.client.createKey(other.id, otherLock.id, { userId: "+4790000091" });
    await site.client.createKey(lh, victimLock, { userId: "+4790000090" });

    const holderDevice = keyPairFromSeed(new Uint8Array(32).fill(0x90));
    const holder = await registerDevice(site.apiUrl, logs, "+4790000090", holderDevice.publicKey);
    const stranger = await registerDevice(
      site.apiUrl,
      logs,
      "+4790000091",
      keyPairFromSeed(new Uint8Array(32).fill(0x91)).publicKey,
    );
    const nobody = await registerDevice(
      site.apiUrl,
      logs,
      "+4790000092",
      keyPairFromSeed(new Uint8Array(32).fill(0x92)).publicKey,
    );
    for (const p of [holder, stranger, nobody]) secrets.add("app access token", p.token);

    const pending = await call(site.apiUrl, "POST", `/app/v1/virtual-locks/${victimLock}/challenge`, {
      token: holder.token,
    });
    expect(pending.status).toBe(200);
    const strangerToken = (await call(site.apiUrl, "GET", "/app/v1/keys", { token: stranger.token })).body.keys[0]
      .token;
    const unlockBody = { token: strangerToken, proof: toBase64Url(new Uint8Array(64)), nonce: pending.body.nonce };
    for (const [who, phone] of [
      ["another tenant's user", stranger],
      ["a user of no tenant", nobody],
    ] as const) {
      for (const [route, body] of [
        ["challenge", undefined],
        ["unlock", unlockBody],
      ] as const) {
        const missing = await call(site.apiUrl, "POST", `/app/v1/virtual-locks/no-such-lock/${route}`, {
          token: phone.token,
          ...(body ? { body } : {}),
        });
        const answer = await call(site.apiUrl, "POST", `/app/v1/virtual-locks/${victimLock}/${route}`, {
          token: phone.token,
          ...(body ? { body } : {}),
        });
        tally.input();
        expect(answer.status, `${who} ${route}`).toBe(404);
        expect(answer.body, `${who} ${route}`).toEqual(missing.body);
        expect(answer.text).not.toContain(victimLock);
        tally.refuse();
      }
    }
    expect(await site.client.allEvents(lh)).toEqual([]);
    expect(await site.client.webhookDeliveries(lh, hook.id)).toEqual([]);
    // The holder's challenge was not burnt by the refused attempt.
    const holderToken = (await call(site.apiUrl, "GET", "/app/v1/keys", { token: holder.token })).body.keys[0].token;
    const proof = signUnlockProof({
      lockId: victimLock,
      nonce: Buffer.from(pending.body.nonce, "base64url"),
      token: Buffer.from(holderToken, "base64url"),
      deviceSecretKey: holderDevice.secretKey,
    });
    const opened = await call(site.apiUrl, "POST", `/app/v1/virtual-locks/${victimLock}/unlock`, {
      token: holder.token,
      body: { token: holderToken, proof: toBase64Url(proof), nonce: pending.body.nonce },
    });
    expect(opened.status).toBe(200);
    expect((await site.client.allEvents(lh)).map((e) => e.action)).toEqual(["unlocked"]);
    tally.case("review 12.9: another tenant's or no tenant's app user at a virtual lock (404 as for no such lock)");
  });
});

const mosquittoSkip = skipWithoutMosquitto("review 12.12 on Mosquitto");

const RETAINER = "edge-retainer";
/** Reports as a lock seals them (docs/reports.md), under some report key: whole to a courier's eye. */
const plantedKey = { key: new Uint8Array(32).fill(0x17), cloudKeyId: Uint8Array.of(0x17) };
const planted = (fill: number) =>
  Buffer.from(
    sealReport({
      kind: "event",
      event: { id: new Uint8Array(16).fill(fill), lock: RETAINER, seq: fill, ts: NOW_S, type: "unlocked" },
      ctr: fill,
      ...plantedKey,
    }),
  );
const plantedReading = () =>
  Buffer.from(
    sealReport({
      kind: "telemetry",
      telemetry: { lock: RETAINER, ts: NOW_S, level: 17, mv: 2017, state: "ok" },
      ctr: 1,
      ...plantedKey,
    }),
  );
const plantedResult = () => Buffer.from(encodeCommandResult({ id: "planted", ok: true, state: "unlocked" }));

describe("review 12.12: retained messages on a lock's events and telemetry", () => {
  it("the embedded broker refuses a lock's retained events, telemetry and cmd/result", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "edges-retain-embedded" });
    await site.startBridge();
    await site.bridge!.ready;
    const login = { clientId: RETAINER, username: RETAINER, password: deriveLockPassword(site.siteSecret, RETAINER) };
    for (const [kind, payload] of [
      ["events", planted(0xa1)],
      ["telemetry", plantedReading()],
      ["cmd/result", plantedResult()],
    ] as const) {
      const client = await mqtt.connectAsync(site.mqttUrl, { ...login, reconnectPeriod: 0, protocolVersion: 4 });
      const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
      client.publish(`latchkey/locks/${RETAINER}/${kind}`, payload, { qos: 1, retain: true });
      tally.input();
      await closed;
      tally.refuse();
      await client.endAsync(true);
    }
    const refusals = logs.records("mqtt publish refused").filter((r) => r.lockId === RETAINER);
    expect(refusals.map((r) => r.reason)).toEqual([
      "retained events not allowed",
      "retained telemetry not allowed",
      "retained cmd/result not allowed",
    ]);
    tally.case("review 12.12 (embedded): a lock's retained events, telemetry, cmd/result (publish refused)");
  });

  it.skipIf(mosquittoSkip !== null)(
    "on Mosquitto the bridge ignores, counts and clears what a lock retained there; nothing of it is ingested",
    async () => {
      const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "edges-retain-mosquitto" });
      const bridgePassword = `bridge-password-${site.bridgeId}`;
      secrets.add("bridge mqtt password", bridgePassword);
      // The test's own observer: reads everything under the prefix.
      const observerPassword = "edges-observer-password-0123456789";
      secrets.add("observer password", observerPassword);
      const { url, bridgeUser } = await startSiteMosquitto({
        site,
        resources: file.resources,
        dirPrefix: "latchkey-edges-mosquitto-",
        lockIds: [RETAINER],
        bridgePassword,
        observer: { password: observerPassword, acl: "topic readwrite latchkey/#\n" },
      });
      const password = deriveLockPassword(site.siteSecret, RETAINER);
      secrets.add("lock password", password);
      const lockLogin = { clientId: RETAINER, username: RETAINER, password, reconnectPeriod: 0 };
      const retainer = await pollUntil("mosquitto takes the lock's login", () =>
        mqtt.connectAsync(url, lockLogin).catch(() => undefined),
      );
      // The lock retains on its own topics before the bridge ever subscribed: Mosquitto's ACL lets it.
      for (const [kind, payload] of [
        ["events", planted(0xa2)],
        ["telemetry", plantedReading()],
        ["cmd/result", plantedResult()],
      ] as const)
        await retainer.publishAsync(`latchkey/locks/${RETAINER}/${kind}`, payload, { qos: 1, retain: true });
      await retainer.endAsync(true);
      tally.input(3);

      await site.startBridge({ mqtt: { broker: "external", url, username: bridgeUser, password: bridgePassword } });
      await site.bridge!.ready;
      const cleared = () => logs.records("ignored and cleared a retained message a lock left on its own topic");
      await pollUntil("the bridge cleared the three", () => cleared().length === 3, { timeoutMs: 30_000 });
      expect(cleared().map((r) => r.kind)).toEqual(expect.arrayContaining(["events", "telemetry", "cmd/result"]));
      const metrics = await scrape(site.metricsUrl);
      for (const kind of ["events", "telemetry", "cmd/result"])
        expect(metricValue(metrics, "latchkey_bridge_mqtt_retained_cleared_total", { kind })).toBe(1);

      // A fresh subscriber is shown nothing retained there any more.
      const observer = await mqtt.connectAsync(url, {
        username: "observer",
        password: observerPassword,
        clientId: "observer",
        reconnectPeriod: 0,
      });
      const seen: string[] = [];
      let marker = false;
      observer.on("message", (topic, _payload, packet) => {
        if (topic === "latchkey/edges/marker") marker = true;
        else if (packet.retain) seen.push(topic);
      });
      await observer.subscribeAsync([`latchkey/locks/${RETAINER}/+`, "latchkey/edges/marker"], { qos: 1 });
      await observer.publishAsync("latchkey/edges/marker", "m", { qos: 1 });
      await pollUntil("the marker behind the retained messages", () => marker);
      await observer.endAsync(true);
      expect(seen.filter((t) => !t.endsWith("/status"))).toEqual([]);
      tally.refuse(3);

      await pollUntil("the outbox drained", () => (site.bridge?.outbox().items ?? 0) === 0, { timeoutMs: 30_000 });
      const db = site.cloudDb();
      expect(db.prepare("SELECT id FROM events WHERE id = ?").all(toHex(new Uint8Array(16).fill(0xa2)))).toEqual([]);
      expect(db.prepare("SELECT lock_id FROM telemetry WHERE level = 17 AND mv = 2017").all()).toEqual([]);
      tally.case(
        "review 12.12 (Mosquitto): a lock's retained events, telemetry, cmd/result (ignored, counted, cleared)",
      );
    },
  );
});

describe("review 12.2 (bridge): data files", () => {
  const FILES = ["bridge.db", "bridge.db-wal", "bridge.db-shm", "broker.db", "broker.db-wal", "broker.db-shm"];
  const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

  it("the bridge process makes its data directory 0700 and its databases 0600, and narrows wider ones on start", async () => {
    const site = await ReliabilitySite.start(file.resources, logs, secrets, { seed: "edges-files" });
    const data = join(site.dir, "bridge");
    const bridge = await site.startBridgeProcess();
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    expect(mode(data)).toBe("700");
    for (const f of FILES) expect(`${f} ${mode(join(data, f))}`).toBe(`${f} 600`);
    await site.stopBridgeProcess();

    // As an older bridge left them: every other local user could read them.
    chmodSync(data, 0o755);
    const wide = FILES.filter((f) => existsSync(join(data, f)));
    for (const f of wide) chmodSync(join(data, f), 0o644);
    tally.input(1 + wide.length);
    const again = await site.startBridgeProcess();
    await again.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    expect(mode(data)).toBe("700");
    for (const f of FILES) expect(`${f} ${mode(join(data, f))}`).toBe(`${f} 600`);
    const told = logs.records("narrowed the mode of a data file other local users could read");
    expect(told.map((r) => `${r.path} ${r.was}`).sort()).toEqual(
      [`${data} 755`, ...wide.map((f) => `${join(data, f)} 644`)].sort(),
    );
    tally.refuse(1 + wide.length);
    await site.stopBridgeProcess();
    tally.case(
      "review 12.2 (bridge): a data directory or database file other local users could read (narrowed, logged)",
    );
  });
});

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { userInfo } from "node:os";
import { deriveLockPassword, encodeEvent, encodeSync } from "@latchkey/protocol";
import { freePort, ManagedChild, pollUntil, writeMosquittoFiles } from "@latchkey/scripts";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { announceSkip, E2eSite, Resources } from "../src/index.js";

const mosquittoBinary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"].find(
  (p) => spawnSync(p, ["-h"]).error === undefined,
);
const skipReason = !process.env.MQTT_URL
  ? "MQTT_URL is not set"
  : !mosquittoBinary
    ? "no mosquitto binary on this host"
    : null;
if (skipReason) announceSkip("the per-lock ACL test on Mosquitto", skipReason);

/**
 * Per-lock access on an external Mosquitto: the files `latchkey-mosquitto-acl` writes (scripts/src/mosquitto), a
 * private Mosquitto started from them, the bridge and locks on it. The site works through the ACL, and a lock with
 * valid credentials of its own cannot speak for another lock, read another lock's sync, or sync itself.
 */
describe.skipIf(skipReason !== null)(
  `per-lock ACL on a Mosquitto from latchkey-mosquitto-acl's files${skipReason ? ` (skipped: ${skipReason})` : ""}`,
  () => {
    const resources = new Resources();
    let site: E2eSite;
    let url: string;
    const clients: MqttClient[] = [];
    const bridgePassword = randomBytes(18).toString("base64url");

    beforeAll(async () => {
      site = await E2eSite.start(resources);
      const port = await freePort();
      url = `mqtt://127.0.0.1:${port}`;
      const bridgeUser = `bridge@${site.bridgeId}`;
      const files = writeMosquittoFiles({
        dir: resources.tempDir("latchkey-e2e-mosquitto-"),
        siteSecret: site.siteSecret,
        // door-9 has credentials but no running lock: the intruder below. Under use_username_as_clientid an intruder
        // logged in as a running lock would take over that lock's connection.
        lockIds: ["door-1", "door-2", "door-9"],
        bridgeUsername: bridgeUser,
        bridgePassword,
        listener: { host: "127.0.0.1", port },
        // Started as root, Mosquitto drops to user "mosquitto", which cannot read the 0600 files.
        runAsUser: userInfo().username,
      });
      const broker = new ManagedChild({ name: "mosquitto", command: mosquittoBinary!, args: ["-c", files.confFile!] });
      resources.defer("stop mosquitto", () => broker.stop("SIGTERM", 5000));
      // The locks and the bridge say goodbye to the broker: they stop before it.
      resources.defer("stop the site before mosquitto", () => site.close());
      await pollUntil("mosquitto to take the bridge's login", async () => {
        const c = await mqtt.connectAsync(url, { username: bridgeUser, password: bridgePassword, reconnectPeriod: 0 });
        await c.endAsync();
        return true;
      });
      site.broker = {
        kind: "external",
        run: { url, topicPrefix: "latchkey", discoveryPrefix: "homeassistant", tag: "acl" },
        username: bridgeUser,
        password: bridgePassword,
        clean: false,
      };
      await site.startBridge();
      resources.defer("disconnect test clients", () => Promise.all(clients.map((c) => c.endAsync(true))));
    });
    afterAll(() => resources.cleanup());

    async function connectAs(lockId: string, password = deriveLockPassword(site.siteSecret, lockId)) {
      // MQTT 5: Mosquitto answers a refused publish with "Not authorized" instead of dropping it silently.
      const client = await mqtt.connectAsync(url, {
        username: lockId,
        password,
        protocolVersion: 5,
        reconnectPeriod: 0,
      });
      clients.push(client);
      return client;
    }

    it("the site works through the ACL: sync reaches the lock, its unlock event reaches the cloud", async () => {
      const door1 = await site.startLock("door-1");
      await site.startLock("door-2");
      await site.waitForLocks(["door-1", "door-2"]);
      const key = await site.client.createKey(site.lockHolderId, "door-1", {
        userId: "+4792222222",
        durationMinutes: 30,
      });
      const phone = await site.phone("+4792222222");
      await phone.prefetch(site.apiUrl);
      await site.waitForTrust(door1);
      expect(await phone.unlock("door-1", { radio: site.radio })).toMatchObject({ ok: true });
      await site.client.waitForEvent(site.lockHolderId, "the unlock through Mosquitto", (e) => e.keyId === key.id);
    });

    it("refuses a wrong lock password and a lock id that is not in the password file", async () => {
      await expect(connectAs("door-1", deriveLockPassword(site.siteSecret, "door-2"))).rejects.toThrow(
        /Not authorized|Bad User Name or Password/,
      );
      await expect(connectAs("door-3", deriveLockPassword(site.siteSecret, "door-3"))).rejects.toThrow(
        /Not authorized|Bad User Name or Password/,
      );
    });

    it("a lock cannot publish for another lock, sync itself, or read another lock's sync", async () => {
      const door9 = await connectAs("door-9");
      const forgedId = new Uint8Array(16).fill(0xee);
      const forged = encodeEvent({
        id: forgedId,
        lock: "door-1",
        seq: 999,
        ts: Math.floor(Date.now() / 1000),
        type: "unlocked",
      });
      await expect(door9.publishAsync("latchkey/locks/door-1/events", Buffer.from(forged), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      const selfSync = encodeSync({ v: 1_000_000, issuers: [], revoked: [], time: Math.floor(Date.now() / 1000) });
      await expect(door9.publishAsync("latchkey/locks/door-9/sync", Buffer.from(selfSync), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      await expect(
        door9.publishAsync("latchkey/bridges/x/status", "offline", { qos: 1, retain: true }),
      ).rejects.toThrow(/Not authorized/);

      const overheard: string[] = [];
      door9.on("message", (topic) => overheard.push(topic));
      await door9.subscribeAsync(["latchkey/locks/door-1/sync", "latchkey/locks/door-1/cmd"], { qos: 1 });
      // A new key makes the bridge sync door-1; door-1 applies it, door-9's subscription hears nothing.
      const door1 = site.locks.find((l) => l.id === "door-1")!;
      const version = door1.syncVersion;
      await site.client.createKey(site.lockHolderId, "door-1", { userId: "+4792222223", durationMinutes: 30 });
      await door1.waitForSyncVersion(version + 1);
      expect(overheard).toEqual([]);
      // And the forged event never became a cloud event.
      const events = await site.client.allEvents(site.lockHolderId);
      expect(events.some((e) => e.id === "ee".repeat(16))).toBe(false);
    });
  },
);

import { randomBytes } from "node:crypto";
import { deriveLockPassword, sealReport } from "@latchkey/protocol";
import { pollUntil } from "@latchkey/scripts";
import mqtt, { type MqttClient } from "mqtt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2eSite, Resources, skipWithoutMosquitto, startSiteMosquitto } from "../src/index.js";

const skipReason = skipWithoutMosquitto("the per-lock ACL test on Mosquitto");

/**
 * Per-lock access on an external Mosquitto: the files `latchkey-mosquitto-acl` writes (scripts/src/mosquitto), a
 * private Mosquitto started from them, the bridge and locks on it. The site works through the ACL, and a lock with
 * valid credentials of its own cannot speak for another lock, read another lock's state or commands, or write a lock's
 * signed state or time answer (only the bridge relays those; docs/mqtt.md).
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
      const mosquitto = await startSiteMosquitto({
        site,
        resources,
        dirPrefix: "latchkey-e2e-mosquitto-",
        // door-9 has credentials but no running lock: the intruder below. Under use_username_as_clientid an intruder
        // logged in as a running lock would take over that lock's connection.
        lockIds: ["door-1", "door-2", "door-9"],
        bridgePassword,
      });
      url = mosquitto.url;
      const bridgeUser = mosquitto.bridgeUser;
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

    it("the site works through the ACL: the signed state and time reach the lock, its unlock report the cloud", async () => {
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

    it("a lock cannot publish for another lock, write a signed state or time answer, or read another lock's", async () => {
      const door9 = await connectAs("door-9");
      // A report in due form naming door-1 (under a key door-9 made up: the cloud would refuse it as `forged` too).
      const forged = sealReport({
        kind: "event",
        event: { id: new Uint8Array(16).fill(0xee), lock: "door-1", seq: 999, ts: 1_800_000_000, type: "unlocked" },
        key: new Uint8Array(32).fill(7),
        cloudKeyId: new Uint8Array(8).fill(1),
        ctr: 1,
      });
      await expect(door9.publishAsync("latchkey/locks/door-1/events", Buffer.from(forged), { qos: 1 })).rejects.toThrow(
        /Not authorized/,
      );
      // Only the bridge writes a lock's state and time answers (the lock would refuse anything unsigned anyway).
      for (const topic of ["door-9/state", "door-1/state", "door-9/time/answer", "door-9/cmd"]) {
        await expect(
          door9.publishAsync(`latchkey/locks/${topic}`, Buffer.from([0xa0]), { qos: 1 }),
          topic,
        ).rejects.toThrow(/Not authorized/);
      }
      await expect(
        door9.publishAsync("latchkey/bridges/x/status", "offline", { qos: 1, retain: true }),
      ).rejects.toThrow(/Not authorized/);

      const overheard: string[] = [];
      door9.on("message", (topic) => overheard.push(topic));
      // door-1's state is retained: a permitted subscription would hear it at once.
      await door9.subscribeAsync(
        ["latchkey/locks/door-1/state", "latchkey/locks/door-1/cmd", "latchkey/locks/door-1/time/answer"],
        { qos: 1 },
      );
      // A revocation makes the bridge relay a newer signed state to door-1; door-9's subscriptions hear nothing.
      const door1 = site.locks.find((l) => l.id === "door-1")!;
      const version = door1.stateV;
      const key = await site.client.createKey(site.lockHolderId, "door-1", {
        userId: "+4792222223",
        durationMinutes: 30,
      });
      await site.client.revokeKey(site.lockHolderId, key.id);
      await door1.waitForState(version + 1, { timeoutMs: 30_000 });
      expect(overheard).toEqual([]);
      // And the forged event never became a cloud event.
      const events = await site.client.allEvents(site.lockHolderId);
      expect(events.some((e) => e.id === "ee".repeat(16))).toBe(false);
    });
  },
);

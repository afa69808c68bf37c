import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import type { RunningBridge } from "../src/index.js";
import { siteChanges } from "./helpers/bridge.js";
import type { MqttLock } from "./helpers/mqtt-lock.js";
import { bridgeSiteEach } from "./helpers/site-each.js";
import { waitFor } from "./helpers/wait.js";

/** The commands of remote actions a lock got (the bridge also pings every lock that connects: not an action's). */
const carried = (lock: MqttLock) => lock.commands.filter((c) => c.type !== "ping").map((c) => c.type);

/**
 * Remote actions (docs/bridge-api.md "Remote actions", docs/trust.md "Remote command"), the bridge's side. The cloud's
 * action endpoints land from another branch (issue 13's cloud work): these tests run against TestCloud's stand-in of
 * exactly that contract (a real HTTP server; the one place a stand-in is allowed for them), which signs commands with
 * the test authority. The test lock verifies each command with protocol, so the bridge's courier path is checked end
 * to end: it never needs or holds a secret, and success is only ever the lock's sealed `unlocked` event.
 */
describe("remote actions", () => {
  const site = bridgeSiteEach();
  let bridge: RunningBridge | null = null;

  const lock = site.lock;
  const metrics = async () => (await fetch(`${bridge!.metricsUrl}/metrics`)).text();
  const inAMinute = () => Date.now() + 60_000;

  it("carries an unlock: the lock's nonce to the cloud, the signed command to the lock, success from its report", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    const action = site.cloud.addAction("act_1", "lock-a", "unlock", inAMinute());
    await waitFor("the action succeeded at the cloud", () => action.status === "succeeded");
    expect(carried(a)).toEqual(["command_nonce", "remote"]);
    expect(a.lastCounter).toBe(1);
    // The lock's own word, sealed: an `unlocked` event bound to the command's nonce.
    const unlocked = [...site.cloud.events.values()].find((e) => e.event.type === "unlocked");
    expect(unlocked?.event.cmd).toBeDefined();
    await waitFor("counted delivered", async () => /actions_total\{result="delivered"\} 1/.test(await metrics()));
    // A lock then locked again remotely: the next command carries the next counter.
    const relock = site.cloud.addAction("act_2", "lock-a", "lock", inAMinute());
    await waitFor("the lock action succeeded", () => relock.status === "succeeded");
    expect(a.lastCounter).toBe(2);
  });

  it("reports the lock's refusal with its code, and an unreachable lock as such", async () => {
    siteChanges(site.cloud, ["lock-a", "lock-b"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    // The lock already executed a later command (say, one a courier held back and it got another way first).
    a.lastCounter = 100;
    const refused = site.cloud.addAction("act_r", "lock-a", "unlock", inAMinute());
    await waitFor("the refusal reported", () => refused.status === "failed");
    expect(refused.error).toMatchObject({ code: "stale_counter" });
    expect([...site.cloud.events.values()].some((e) => e.event.type === "unlocked")).toBe(false);
    // lock-b is served but not connected.
    const away = site.cloud.addAction("act_u", "lock-b", "unlock", inAMinute());
    await waitFor("the lock reported unreachable", () => away.status === "failed");
    expect(away.error).toMatchObject({ code: "unreachable" });
    const text = await metrics();
    expect(text).toMatch(/latchkey_bridge_actions_total\{result="refused"\} 1/);
    expect(text).toMatch(/latchkey_bridge_actions_total\{result="unreachable"\} 1/);
  });

  it("never carries an action past its expiry, nor one the cloud has closed", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    site.cloud.addAction("act_old", "lock-a", "unlock", Date.now() - 1_000);
    await waitFor("counted expired", async () => /actions_total\{result="expired"\} 1/.test(await metrics()));
    expect(carried(a)).toEqual([]);
    // Closed at the cloud before the bridge asked for the command: 409, and the lock is sent nothing to act on.
    const closed = site.cloud.addAction("act_closed", "lock-a", "unlock", inAMinute());
    closed.status = "expired";
    await waitFor("counted closed", async () => /actions_total\{result="closed"\} 1/.test(await metrics()));
    expect(carried(a)).toEqual(["command_nonce"]);
    expect(closed.status).toBe("expired");
  });

  it("carries an action once, also when the feed is read again from the start", async () => {
    siteChanges(site.cloud, ["lock-a"]);
    ({ bridge } = await site.start());
    await bridge.ready;
    const a = await lock("lock-a");
    const action = site.cloud.addAction("act_once", "lock-a", "unlock", inAMinute());
    await waitFor("succeeded", () => action.status === "succeeded");
    await a.close();
    await bridge.stop();
    const db = new Database(join(site.dir.path, "bridge.db"));
    db.prepare("UPDATE feed_cursor SET cursor = 'garbage'").run();
    db.close();
    ({ bridge } = await site.start());
    await bridge.ready;
    const again = await lock("lock-a");
    // The same lock after a reconnect: its report counter and executed command counter survive (they are durable).
    again.ctr = a.ctr;
    again.lastCounter = a.lastCounter;
    await waitFor("the feed replayed", () => site.cloud.cursorsAsked.filter((c) => c === "").length >= 2);
    // Something later on the feed goes through, and the replayed action was not carried again.
    const next = site.cloud.addAction("act_next", "lock-a", "lock", inAMinute());
    await waitFor("the next action succeeded", () => next.status === "succeeded");
    expect(carried(again)).toEqual(["command_nonce", "remote"]);
  });
});

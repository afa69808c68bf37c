import { connect as tcpConnect } from "node:net";
import {
  decodeCommand,
  decodeCommandResult,
  decodeSetupCode,
  decodeStatus,
  decodeTimeRequest,
  deriveLockPassword,
  encodeLockKeys,
  encodeStatus,
  fromBase64Url,
  isProtocolError,
  keyPairFromSeed,
  openReport,
  peekReport,
  type ReportVerdictCode,
  type SignedLockState,
  toBase64Url,
  toHex,
  verifyLockState,
} from "@latchkey/protocol";
import { remainingLength } from "@latchkey/protocol/testing/mqtt-frames";
import { pollUntil } from "@latchkey/scripts";
import mqtt from "mqtt";
import { afterAll, describe, expect, inject, it } from "vitest";
import { accessToken, call, reportLocks } from "../src/reliability/bridge-api.js";
import { TestBroker } from "../src/reliability/broker.js";
import { LogSink, Secrets } from "../src/reliability/evidence.js";
import { metricValue, scrape } from "../src/reliability/metrics.js";
import { PaperLock } from "../src/reliability/paper-lock.js";
import {
  commandPayloads,
  commandResultPayloads,
  macReport,
  reportPayloads,
  sample,
  statePayloads,
  statusPayloads,
  timeRequestPayloads,
} from "../src/reliability/payload-fuzz.js";
import { ReliabilitySite } from "../src/reliability/site.js";
import { Tally } from "../src/reliability/tally.js";
import { Resources } from "../src/resources.js";

/**
 * Malformed and oversized payloads for every MQTT message the bridge and the lock decode, sent through a real broker
 * to the real bridge process and the real lock firmware. Protocol's decoders and verifiers say what each payload is;
 * the bridge must store exactly the sealed reports that are whole and the lock's (the cloud then keeps exactly the
 * authentic ones), drop or refuse every other with a log line and a metric; the lock must apply exactly the signed
 * states its verifier accepts; neither may crash or write half a record.
 */
const tally = new Tally("mqtt-fuzz");
const resources = new Resources();
const logs = new LogSink();
const secrets = new Secrets();
afterAll(async () => {
  expect(secrets.foundIn(logs.text())).toEqual([]);
  tally.publish(inject("reliabilityReport"));
  await resources.cleanup();
});

const FUZZ_LOCK = "fuzz-lock";
const HA = { username: "homeassistant@fuzz", password: "ha-password-0123456789", role: "homeassistant" };

type Verdict = "valid" | "invalid" | "other-lock";
function judge(decode: (b: Uint8Array) => object, payload: Uint8Array): Verdict {
  try {
    const message = decode(payload) as { lock?: unknown };
    return message.lock !== undefined && message.lock !== FUZZ_LOCK ? "other-lock" : "valid";
  } catch {
    return "invalid";
  }
}

/** What a courier can tell of a report without its key (the bridge's peek, docs/reports.md). */
function judgeReport(payload: Uint8Array): Verdict {
  try {
    peekReport(payload, FUZZ_LOCK);
    return "valid";
  } catch (e) {
    return isProtocolError(e) && e.code === "wrong_lock" ? "other-lock" : "invalid";
  }
}

describe("fuzzing what the bridge decodes, through its embedded broker", () => {
  it("reports, status, command results, time requests and Home Assistant status: the whole reports stored, the rest refused or dropped and logged", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-fuzz" });
    secrets.add("home assistant password", HA.password);
    // The test plays the lock: claimed with its setup code, it seals its reports under the key its state names.
    const paper = new PaperLock(FUZZ_LOCK).track(secrets);
    await site.client.claimLock(site.lockHolderId, paper.setupCode);
    const bridge = await site.startBridgeProcess({ mqtt: { accounts: [HA] } });
    await bridge.child.waitForLog("change feed caught up", () => true, { timeoutMs: 60_000 });
    const password = deriveLockPassword(site.siteSecret, FUZZ_LOCK);
    secrets.add("lock mqtt password", password);
    const asLock = (reconnect: boolean) =>
      mqtt.connectAsync(site.mqttUrl, {
        clientId: FUZZ_LOCK,
        username: FUZZ_LOCK,
        password,
        clean: true,
        reconnectPeriod: reconnect ? 100 : 0,
      });
    let lock = await asLock(true);
    const topic = (kind: string) => `latchkey/locks/${FUZZ_LOCK}/${kind}`;
    const states: Uint8Array[] = [];
    lock.on("message", (_topic, payload) => states.push(new Uint8Array(payload)));
    await lock.subscribeAsync(topic("state"), { qos: 1 });
    const keys = encodeLockKeys({ lock: FUZZ_LOCK, identity: paper.identityPublic, x25519: paper.agreement.publicKey });
    await lock.publishAsync(topic("keys"), Buffer.from(keys), { qos: 1, retain: true });
    await lock.publishAsync(topic("status"), Buffer.from(encodeStatus("online")), { qos: 1, retain: true });
    await pollUntil(
      "the fuzz lock assigned",
      async () => (await site.client.listLocks(site.lockHolderId)).locks.some((l) => l.id === FUZZ_LOCK),
      { timeoutMs: 60_000 },
    );
    const [first] = await pollUntil("the lock's signed state from the bridge", () => (states.length ? states : null), {
      timeoutMs: 60_000,
    });
    const state = paper.readState(toBase64Url(first!));
    const reportKey = paper.reportKey(state);
    let counter = 0;
    const seal = (kind: "event" | "telemetry", msg: Uint8Array) =>
      macReport({ lockId: FUZZ_LOCK, kind, msg, ctr: ++counter, key: reportKey, kid: state.reportKey.id });
    // What the cloud will say of a whole report (the bridge cannot know: it holds no key).
    const verdictOf = (payload: Uint8Array): ReportVerdictCode =>
      openReport(payload, {
        lockId: FUZZ_LOCK,
        keys: (_lock, kid) => (toHex(kid) === toHex(state.reportKey.id) ? reportKey : undefined),
      }).verdict;
    // Settle what the connection itself made (presence) before counting.
    await pollUntil("the outbox drained", async () => (await health(site)).outbox.items === 0, { timeoutMs: 30_000 });

    const reportKinds = new Set(["events", "telemetry"]);
    const batches: Array<[string, Array<() => Uint8Array>, (b: Uint8Array) => Verdict]> = [
      ["events", sample(reportPayloads(FUZZ_LOCK, "event", seal, state.reportKey.id), 400, 1), judgeReport],
      ["telemetry", sample(reportPayloads(FUZZ_LOCK, "telemetry", seal, state.reportKey.id), 250, 2), judgeReport],
      ...(
        [
          ["status", sample(statusPayloads(), 120, 3), (b: Uint8Array) => ({ status: decodeStatus(b) })],
          ["cmd/result", sample(commandResultPayloads(), 150, 4), decodeCommandResult],
          // Relayed to the cloud when valid (answered for this claimed lock), else dropped.
          ["time/request", sample(timeRequestPayloads(FUZZ_LOCK), 150, 6), decodeTimeRequest],
        ] as Array<[string, Uint8Array[], (b: Uint8Array) => object]>
      ).map(
        ([kind, payloads, decode]) =>
          [kind, payloads.map((p) => () => p), (b: Uint8Array) => judge(decode, b)] as [
            string,
            Array<() => Uint8Array>,
            (b: Uint8Array) => Verdict,
          ],
      ),
    ];
    const sent = { valid: new Map<string, number>(), invalid: 0, invalidReports: 0, otherLock: 0 };
    const authenticEvents = new Set<string>();
    let authenticTelemetry = 0;
    const cloudRefusals = new Map<string, number>();
    for (const [kind, thunks, judgeOf] of batches) {
      for (const thunk of thunks) {
        const payload = thunk();
        const verdict = judgeOf(payload);
        tally.input();
        // A report that is not this lock's whole report, or any payload naming another lock, is refused: no PUBACK,
        // the connection cut. A throwaway client takes it.
        if (verdict === "other-lock" || (verdict === "invalid" && reportKinds.has(kind))) {
          lock.end(true);
          const rogue = await asLock(false);
          const closed = new Promise<void>((resolve) => rogue.once("close", () => resolve()));
          rogue.publish(topic(kind), Buffer.from(payload), { qos: 1 });
          await closed;
          rogue.end(true);
          lock = await asLock(true);
          if (verdict === "other-lock") sent.otherLock++;
          else {
            sent.invalid++;
            sent.invalidReports++;
          }
          tally.refuse();
          continue;
        }
        await lock.publishAsync(topic(kind), Buffer.from(payload), { qos: 1 });
        if (verdict === "invalid") {
          sent.invalid++;
          tally.refuse();
          continue;
        }
        sent.valid.set(kind, (sent.valid.get(kind) ?? 0) + 1);
        if (!reportKinds.has(kind)) continue;
        // Whole and this lock's: the bridge stores it; the cloud's verdict decides.
        const cloudVerdict = verdictOf(payload);
        if (cloudVerdict === "ok") {
          const peeked = peekReport(payload, FUZZ_LOCK);
          if (peeked.kind === "event") authenticEvents.add(toHex(peeked.event.id));
          else authenticTelemetry++;
        } else {
          cloudRefusals.set(cloudVerdict, (cloudRefusals.get(cloudVerdict) ?? 0) + 1);
          tally.refuse();
        }
      }
    }
    // Home Assistant's status topic, from its own account: anything but "online" is ignored.
    const ha = await mqtt.connectAsync(site.mqttUrl, { ...HA, clientId: "ha-fuzz", reconnectPeriod: 0 });
    for (const payload of sample(statusPayloads(), 60, 5)) {
      await ha.publishAsync("homeassistant/status", Buffer.from(payload), { qos: 1 });
      tally.input();
    }
    await ha.endAsync();
    await lock.endAsync();

    // No crash, every refusal counted and logged.
    expect(bridge.child.running).toBe(true);
    const metrics = await scrape(site.metricsUrl);
    expect(metricValue(metrics, "latchkey_bridge_lock_messages_rejected_total")).toBe(sent.invalid);
    expect(logs.records("refused a lock message that is not a sealed report").length).toBe(sent.invalidReports);
    const dropped = logs.records("dropped a lock message that does not decode").length;
    expect(dropped, "one log line per dropped message").toBe(sent.invalid - sent.invalidReports);
    expect(
      logs.records("refused a report naming another lock").length +
        logs.records("refused a time request naming another lock").length,
    ).toBe(sent.otherLock);
    expect(sent.invalid).toBeGreaterThan(300);
    expect(authenticEvents.size).toBeGreaterThan(50);
    expect(cloudRefusals.get("forged")).toBeGreaterThan(20);

    // Nothing half-written: the cloud holds each authentic event and reading once, and refused every other report
    // the bridge carried (each verdict counted by the bridge).
    await pollUntil("the outbox drained", async () => (await health(site)).outbox.items === 0, { timeoutMs: 60_000 });
    const after = await scrape(site.metricsUrl);
    for (const [verdict, n] of cloudRefusals)
      expect(metricValue(after, "latchkey_bridge_reports_refused_total", { verdict }), verdict).toBe(n);
    const db = site.cloudDb();
    const events = db.prepare("SELECT id FROM events WHERE lock_id = ?").all(FUZZ_LOCK) as Array<{ id: string }>;
    expect(new Set(events.map((e) => e.id))).toEqual(authenticEvents);
    expect(events.length).toBe(authenticEvents.size);
    const telemetry = db.prepare("SELECT COUNT(*) AS n FROM telemetry WHERE lock_id = ?").get(FUZZ_LOCK) as {
      n: number;
    };
    expect(telemetry.n).toBe(authenticTelemetry);
    const others = db.prepare("SELECT COUNT(*) AS n FROM events WHERE lock_id <> ?").get(FUZZ_LOCK) as { n: number };
    expect(others.n, "nothing stored for a lock that did not send it").toBe(0);
    tally.note("authentic reports stored", events.length + telemetry.n);
    tally.note(
      "whole reports the cloud refused (counted by the bridge)",
      [...cloudRefusals].map(([v, n]) => `${v} ${n}`).join(" "),
    );
  });

  it("garbage and oversized MQTT packets on the raw socket, before and after a login: the broker survives", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-raw" });
    const bridge = await site.startBridgeProcess();
    const port = site.mqttPort;
    const garbage = [
      Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x7f]),
      Buffer.from([0x30, 0x00]),
      Buffer.from([0xf0, 0x00]),
      Buffer.alloc(4096, 0xff),
      Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x05, 0xff, 0x00, 0x3c, 0x00, 0x00]),
    ];
    for (const bytes of garbage) {
      await new Promise<void>((resolve) => {
        const socket = tcpConnect(port, "127.0.0.1", () => socket.end(bytes));
        socket.on("close", () => resolve());
        socket.on("error", () => resolve());
        socket.resume();
      });
      tally.input();
      tally.refuse();
    }
    expect(bridge.child.running).toBe(true);
    expect((await fetch(`${site.metricsUrl}/healthz`)).status).toBe(200);
  });

  it("an unauthenticated client announcing a 200 MB packet is cut off early, not buffered", async () => {
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "mqtt-huge" });
    const bridge = await site.startBridgeProcess();
    const before = (await health(site)).memory.rssMb;
    // CONNECT with a remaining length of 200 MB, then its body, as fast as the bridge takes it.
    const announced = 200 * 1024 * 1024;
    const header = Buffer.from([0x10, ...remainingLength(announced)]);
    const chunk = Buffer.alloc(64 * 1024, 0x41);
    const written = await new Promise<number>((resolve) => {
      let total = 0;
      let done = false;
      const finish = () => {
        if (done) return;
        done = true;
        socket.destroy();
        resolve(total);
      };
      const socket = tcpConnect(site.mqttPort, "127.0.0.1", () => {
        socket.write(header);
        const pump = () => {
          while (!done && total < announced) {
            total += chunk.length;
            if (!socket.write(chunk)) return void socket.once("drain", pump);
          }
          finish();
        };
        pump();
      });
      socket.on("close", finish);
      socket.on("error", finish);
    });
    tally.input();
    expect(bridge.child.running).toBe(true);
    const after = (await health(site)).memory.rssMb;
    tally.note("bytes a client could push before the cut (MiB)", Math.round(written / 1048576));
    tally.note("bridge RSS growth from a 200 MB packet (MB)", Math.round(after - before));
    expect(written, "the bridge cut the connection long before 200 MB").toBeLessThan(32 * 1024 * 1024);
    tally.refuse();
  });
});

describe("fuzzing what the lock decodes, through a broker where the test speaks as the bridge", () => {
  it("signed states and commands: refused ones logged (or answered invalid_command), exactly the states its verifier takes applied; the lock's flash stays whole", async () => {
    const broker = new TestBroker();
    await broker.start();
    resources.defer("stop the test broker", () => broker.stop());
    const site = await ReliabilitySite.start(resources, logs, secrets, { seed: "lock-fuzz" });
    const lock = await site.startLock("fuzz-target", { mqttUrl: broker.url });
    const { claimSecret } = decodeSetupCode(lock.setupCode);
    // The authority's genuine states for the lock, as its bridge would fetch them (the test speaks the bridge API);
    // each change of the lock holder's issuer keys makes a newer one.
    const bridgeToken = await accessToken(site.apiUrl, site.bridgeId, site.bridgeSecret, "bridge");
    secrets.add("bridge access token", bridgeToken);
    await reportLocks(site.apiUrl, bridgeToken, site.vendorConnectionId, [lock.id]);
    const genuine: Uint8Array[] = [];
    for (let i = 0; i < 4; i++) {
      if (i > 0) await site.client.rotateIssuerKey(site.lockHolderId);
      const fetched = await call(site.apiUrl, "GET", `/bridge/v1/locks/${lock.id}/state`, { token: bridgeToken });
      expect(fetched.status).toBe(200);
      genuine.push(fromBase64Url(fetched.body.state));
    }
    // Another lock of the same lock holder: its genuine states are signed by the same authority.
    const neighbour = new PaperLock("fuzz-neighbour").track(secrets);
    await site.client.claimLock(site.lockHolderId, neighbour.setupCode);
    await reportLocks(site.apiUrl, bridgeToken, site.vendorConnectionId, [lock.id, neighbour.lockId]);
    const foreign = await call(site.apiUrl, "GET", `/bridge/v1/locks/${neighbour.lockId}/state`, {
      token: bridgeToken,
    });
    expect(foreign.status).toBe(200);
    const first = verifyLockState(genuine[0]!, { lockId: lock.id, claimSecret });
    if (!first.ok) throw new Error(`${first.code}: ${first.message}`);
    expect(new Set(genuine.map((g) => toHex(g))).size, "four distinct genuine states").toBe(4);

    const asBridge = await mqtt.connectAsync(broker.url, { clientId: "fuzz-bridge", reconnectPeriod: 0 });
    resources.defer("close the fuzzing bridge client", () => asBridge.endAsync(true));
    const results: Buffer[] = [];
    asBridge.on("message", (_topic, payload) => results.push(payload));
    await asBridge.subscribeAsync("latchkey/locks/fuzz-target/cmd/result", { qos: 1 });

    // What the lock must believe after each document: its own verifier, step by step (docs/trust.md).
    let expected: { authority?: Uint8Array; state?: SignedLockState } = {};
    let refusedLogged = 0;
    const refusedBy = new Map<string, number>();
    const offer = (doc: Uint8Array): "applied" | "refused" => {
      const verdict = verifyLockState(doc, {
        lockId: lock.id,
        claimSecret,
        ...(expected.authority ? { authority: expected.authority } : {}),
        ...(expected.state ? { currentV: expected.state.v } : {}),
      });
      if (verdict.ok) {
        expected = { authority: verdict.authority, state: verdict.state };
        return "applied";
      }
      // A stale v is what every retained copy looks like: logged at debug, not as an attack.
      if (verdict.code !== "stale_version") refusedLogged++;
      refusedBy.set(verdict.code, (refusedBy.get(verdict.code) ?? 0) + 1);
      return "refused";
    };
    const attacker = keyPairFromSeed(new Uint8Array(32).fill(0x5a)).secretKey;
    const states = sample(
      statePayloads(lock.id, genuine, [fromBase64Url(foreign.body.state)], attacker, first.state),
      250,
      11,
    );
    let refusedStates = 0;
    for (const payload of states) {
      tally.input();
      // An empty retained message is the bridge clearing its copy: nothing to apply, nothing to refuse.
      if (payload.length > 0 && offer(payload) === "refused") {
        refusedStates++;
        tally.refuse();
      }
      await asBridge.publishAsync("latchkey/locks/fuzz-target/state", Buffer.from(payload), { qos: 1 });
    }
    const applied = expected.state;
    expect(applied, "a genuine state among the samples").toBeDefined();
    await lock.waitForState(applied!.v, { timeoutMs: 30_000 });
    await pollUntil("every refused state logged", () => logs.records("signed state refused").length >= refusedLogged, {
      timeoutMs: 30_000,
    });
    expect(logs.records("signed state refused").length).toBe(refusedLogged);
    expect(lock.stateV).toBe(applied!.v);
    const kidsOf = (s: SignedLockState) => s.issuers.map((i) => toHex(i.kid)).sort();
    expect([...lock.trustedKids].sort()).toEqual(kidsOf(applied!));
    expect(lock.trustedKids.length).toBeGreaterThan(0);

    const commands = sample(commandPayloads(), 250, 12);
    let invalidCommands = 0;
    for (const payload of commands) {
      try {
        const command = decodeCommand(payload);
        // A state command carries a document of its own, which the lock verifies in turn.
        if (command.type === "state") offer(command.doc);
      } catch {
        invalidCommands++;
        tally.refuse();
      }
      await asBridge.publishAsync("latchkey/locks/fuzz-target/cmd", Buffer.from(payload), { qos: 1 });
      tally.input();
    }
    await pollUntil("a result for every command", () => results.length >= commands.length, { timeoutMs: 30_000 });
    const answered = results.map((r) => decodeCommandResult(r));
    expect(answered.length).toBe(commands.length);
    expect(answered.filter((r) => r.code === "invalid_command").length).toBe(invalidCommands);
    expect(answered.filter((r) => r.code === "invalid_command").every((r) => !r.ok)).toBe(true);
    expect(lock.stateV).toBe(expected.state!.v);

    // The flash holds what memory says: a restart comes back with the same state, keys and event numbering.
    const lastSeq = lock.events.at(-1)?.seq ?? 0;
    await lock.stop();
    site.locks.splice(site.locks.indexOf(lock), 1);
    const again = await site.startLock("fuzz-target", { mqttUrl: broker.url });
    expect(again.stateV).toBe(expected.state!.v);
    expect([...again.trustedKids].sort()).toEqual(kidsOf(expected.state!));
    again.command({ id: "after", type: "lock" });
    const next = again.events.at(-1)?.seq;
    if (next !== undefined) expect(next).toBeGreaterThan(lastSeq);
    tally.note("lock: states refused", refusedStates);
    tally.note(
      "lock: states refused by code",
      [...refusedBy]
        .sort()
        .map(([c, n]) => `${c} ${n}`)
        .join(" "),
    );
    // Each kind of document the courier could bring was met: forged, altered, stale, another lock's.
    for (const code of ["wrong_authority", "bad_signature", "stale_version", "wrong_lock"])
      expect(refusedBy.get(code) ?? 0, code).toBeGreaterThan(0);
    tally.note("lock: commands refused", invalidCommands);
    tally.case(
      "issue 13: fuzzed, cut, flipped, re-signed, stale and another lock's states: the lock applies exactly what its verifier takes",
    );
  });
});

async function health(site: ReliabilitySite): Promise<{ outbox: { items: number }; memory: { rssMb: number } }> {
  return (await fetch(`${site.metricsUrl}/healthz`)).json() as Promise<{
    outbox: { items: number };
    memory: { rssMb: number };
  }>;
}

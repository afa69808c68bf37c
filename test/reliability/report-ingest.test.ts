import { startCloud } from "@latchkey/cloud";
import { seededRandom } from "@latchkey/lock-sim";
import {
  deriveReportKey,
  encodeSetupCode,
  fingerprint,
  fromBase64Url,
  keyPairFromSeed,
  ManualClock,
  sealReport,
  toBase64Url,
  toHex,
  verifyLockState,
  x25519KeyPairFromSeed,
} from "@latchkey/protocol";
import { describe, expect, it } from "vitest";
import { metricValue, scrape } from "../src/reliability/metrics.js";
import { ReliabilityFile } from "../src/reliability/per-file.js";
import { lintExposition } from "../src/reliability/promlint.js";
import { type Answer, type SendOptions, send } from "../src/reliability/routes.js";
import { tenantSide } from "../src/reliability/tenant.js";

/**
 * Issue 13, the cloud's ingest of lock-authenticated reports (docs/bridge-api.md "Reports from the lock",
 * docs/reports.md "Cloud"): what a courier can do to a report, through the real cloud over HTTP on 127.0.0.1 (in this
 * process, as cloud-trust.test.ts). Every report key and claim secret is tracked and must appear in no log line.
 */
const file = new ReliabilityFile("report-ingest");
const { tally, logs, secrets } = file;

function factory(lockId: string, seed = lockId) {
  const random = seededRandom(`report-ingest:${seed}`);
  const claimSecret = random(16);
  const identity = keyPairFromSeed(random(32)).publicKey;
  const agreement = x25519KeyPairFromSeed(random(32));
  secrets.add(`claim secret of ${lockId} (${seed})`, toHex(claimSecret));
  return {
    lockId,
    claimSecret,
    xPrivate: agreement.privateKey,
    keys: { identity: toBase64Url(identity), x25519: toBase64Url(agreement.publicKey) },
    setupCode: encodeSetupCode({
      lockId,
      claimSecret,
      fingerprint: fingerprint({ identityKey: identity, agreementKey: agreement.publicKey }),
    }),
  };
}

describe("issue 13, cloud ingest of lock-authenticated reports through the running cloud", () => {
  it("refuses forged, altered, misdelivered, replayed and foreign reports item by item; only they move the ack", async () => {
    const clock = new ManualClock(1_800_000_000_000);
    const cloud = await startCloud({
      dataDir: file.resources.tempDir("latchkey-report-ingest-"),
      port: 0,
      clock,
      logLevel: "info",
      logStream: logs.stream("cloud"),
      random: seededRandom("report-ingest"),
      masterKey: new Uint8Array(32).fill(6),
      workers: false,
      metricsPort: 0,
    });
    file.resources.defer("close the cloud", () => cloud.close());
    const api = (method: string, path: string, options: SendOptions = {}): Promise<Answer> =>
      send(cloud.port, method, path, options);

    const side = (name: string, lockIds: string[]) => tenantSide(cloud, api, secrets, name, lockIds);

    const owner = await side("Owner", ["ri-door-a", "ri-door-b", "ri-unclaimed"]);
    const rival = await side("Rival", ["ri-rival-door"]);
    const doors = [factory("ri-door-a"), factory("ri-door-b")];
    for (const d of doors) {
      const claimed = await api("POST", `${owner.lhPath}/locks/claims`, {
        token: owner.admin,
        json: { setupCode: d.setupCode },
      });
      expect(claimed.status).toBe(201);
    }
    const stateOf = async (d: (typeof doors)[number]) => {
      const res = await api("GET", `/bridge/v1/locks/${d.lockId}/state`, { token: owner.bridgeToken });
      const verdict = verifyLockState(fromBase64Url(res.body.state), { lockId: d.lockId, claimSecret: d.claimSecret });
      if (!verdict.ok) throw new Error(verdict.message);
      return verdict.state;
    };
    const sealers = await Promise.all(
      doors.map(async (d) => {
        const { reportKey } = await stateOf(d);
        const key = deriveReportKey({
          lockId: d.lockId,
          cloudKeyId: reportKey.id,
          lockPrivate: d.xPrivate,
          peerPublic: reportKey.x,
        });
        secrets.add(`report key of ${d.lockId}`, toHex(key));
        secrets.add(`report key of ${d.lockId} (base64url)`, toBase64Url(key));
        let ctr = 0;
        let idn = 0;
        return (seq: number, options: { ctr?: number; key?: Uint8Array } = {}) => {
          const id = new Uint8Array(16).fill(++idn);
          id[0] = seq & 0xff;
          return toBase64Url(
            sealReport({
              kind: "event",
              event: { id, lock: d.lockId, seq, ts: 1_800_000_000 + seq, type: "unlocked" },
              ctr: options.ctr ?? ++ctr,
              key: options.key ?? key,
              cloudKeyId: reportKey.id,
            }),
          );
        };
      }),
    );
    const [a, b] = doors as [(typeof doors)[number], (typeof doors)[number]];
    const [sealA, sealB] = sealers as [(typeof sealers)[number], (typeof sealers)[number]];
    // Every verdict the bridge API answered, summed: the cloud's metrics must say the same (issue 13 item 5).
    const answered: Record<string, number> = {};
    const upload = async (token: string, items: unknown[]) => {
      const res = await api("POST", "/bridge/v1/reports", { token, json: { items } });
      expect(res.status).toBe(200);
      for (const [verdict, n] of Object.entries(res.body.counts as Record<string, number>))
        answered[verdict] = (answered[verdict] ?? 0) + n;
      return res.body as { results: { verdict: string; message?: string }[]; counts: Record<string, number> };
    };
    const verdictsOf = (body: { results: { verdict: string }[] }) => body.results.map((r) => r.verdict);
    const flipLast = (report: string) => {
      const bytes = fromBase64Url(report);
      bytes[bytes.length - 1]! ^= 1;
      return toBase64Url(bytes);
    };

    // The unsigned ingest takes presence only now: events and telemetry there are refused by name, stored nowhere.
    tally.case(
      "issue 13 ingest: a gateway's unsigned upload of a high seq is refused and does not move the signed ack",
    );
    const unsigned = await api("POST", "/bridge/v1/ingest", {
      token: owner.bridgeToken,
      json: { events: [{ id: "cd".repeat(16), lockId: a.lockId, seq: 5000, ts: 1_800_000_000, type: "unlocked" }] },
    });
    tally.input();
    expect(unsigned.status).toBe(400);
    expect(unsigned.body.error).toBe("signed_reports_only");
    expect((await stateOf(a)).ack).toBe(0);
    tally.refuse();
    const unsignedTelemetry = await api("POST", "/bridge/v1/ingest", {
      token: owner.bridgeToken,
      json: { telemetry: [{ lockId: a.lockId, ts: 1_800_000_000, level: 1, mv: 2900, state: "critical" }] },
    });
    tally.input();
    expect(unsignedTelemetry.status).toBe(400);
    expect(unsignedTelemetry.body.error).toBe("signed_reports_only");
    tally.refuse();

    tally.case(
      "issue 13 ingest: a first report whose keys miss the setup code's fingerprint, or carry none, is forged",
    );
    const impostor = factory(a.lockId, "impostor");
    const firstTries = await upload(owner.bridgeToken, [
      { lockId: a.lockId, report: sealA(1, { ctr: 1 }), keys: impostor.keys },
      { lockId: a.lockId, report: sealA(1, { ctr: 1 }) },
    ]);
    tally.input(2);
    expect(verdictsOf(firstTries)).toEqual(["forged", "forged"]);
    tally.refuse(2);

    tally.case("issue 13 ingest: one forged, altered or misdelivered item is refused without refusing the honest ones");
    const batch = await upload(owner.bridgeToken, [
      { lockId: a.lockId, report: sealA(1), keys: a.keys },
      { lockId: a.lockId, report: flipLast(sealA(2)) },
      { lockId: a.lockId, report: sealA(3, { key: new Uint8Array(32).fill(9) }) },
      { lockId: b.lockId, report: sealA(4) },
      { lockId: a.lockId, report: sealB(1) },
      { lockId: b.lockId, report: sealB(1), keys: b.keys },
      { lockId: a.lockId, report: sealA(2) },
    ]);
    tally.input(7);
    expect(verdictsOf(batch)).toEqual(["ok", "forged", "forged", "wrong_lock", "wrong_lock", "ok", "ok"]);
    tally.refuse(4);
    // Counters 2 to 4 of lock a were refused: event seqs 1 and 2 arrived authenticated, so the ack is 2.
    expect((await stateOf(a)).ack).toBe(2);

    tally.case("issue 13 ingest: a huge counter in a forged report moves nothing");
    const huge = await upload(owner.bridgeToken, [
      { lockId: a.lockId, report: sealA(9, { ctr: Number.MAX_SAFE_INTEGER, key: new Uint8Array(32).fill(1) }) },
      { lockId: a.lockId, report: sealA(3) },
    ]);
    tally.input(2);
    expect(verdictsOf(huge)).toEqual(["forged", "ok"]);
    tally.refuse();
    expect((await stateOf(a)).ack).toBe(3);

    tally.case("issue 13 ingest: a retried batch is duplicate, a withheld report arriving late is replayed");
    const withheld = sealA(4);
    const after = sealA(5);
    expect(verdictsOf(await upload(owner.bridgeToken, [{ lockId: a.lockId, report: after }]))).toEqual(["ok"]);
    const replays = await upload(owner.bridgeToken, [
      { lockId: a.lockId, report: after },
      { lockId: a.lockId, report: withheld },
    ]);
    tally.input(2);
    expect(verdictsOf(replays)).toEqual(["duplicate", "replayed"]);
    tally.refuse(2);
    expect((await stateOf(a)).ack).toBe(3);
    const detail = await api("GET", `${owner.lhPath}/locks/${a.lockId}`, { token: owner.admin });
    expect(detail.body.missingEvents).toBe(1);

    tally.case("issue 13 ingest: an unclaimed lock, an unknown one and another tenant's bridge get the same answer");
    const foreign = await Promise.all([
      upload(owner.bridgeToken, [{ lockId: "ri-unclaimed", report: sealA(1) }]),
      upload(owner.bridgeToken, [{ lockId: "ri-nobody", report: sealA(1) }]),
      upload(rival.bridgeToken, [{ lockId: a.lockId, report: sealA(6), keys: a.keys }]),
    ]);
    tally.input(3);
    const answers = foreign.map((f) => JSON.stringify(f.results));
    expect(new Set(answers).size).toBe(1);
    expect(foreign[0]!.results[0]!.verdict).toBe("unclaimed");
    tally.refuse(3);
    // The rival's delivery of a's true report 6 stored nothing: the owner's bridge still gets it accepted.
    expect((await stateOf(a)).ack).toBe(3);

    tally.case(
      "issue 13 ingest: every refusal above is counted in the cloud's metrics (served apart from the API), promtool-clean",
    );
    const metricsUrl = cloud.metricsUrl!;
    expect(new URL(metricsUrl).port).not.toBe(String(cloud.port));
    expect((await api("GET", "/metrics", { token: owner.bridgeToken })).status).toBe(404);
    const text = await scrape(metricsUrl);
    tally.input();
    const counted = Object.fromEntries(
      Object.keys(answered).map((verdict) => [verdict, metricValue(text, "latchkey_cloud_reports_total", { verdict })]),
    );
    expect(counted).toEqual(answered);
    expect(answered).toMatchObject({ forged: 5, wrong_lock: 2, replayed: 1, duplicate: 1, unclaimed: 3 });
    // Lock a's counters 2 to 4 (refused items count for nothing) skipped by the ok of 5, then 7 withheld behind 8.
    expect(metricValue(text, "latchkey_cloud_report_gaps_total")).toBe(2);
    expect(metricValue(text, "latchkey_cloud_reports_missing_total")).toBe(4);
    expect(lintExposition(text)).toEqual([]);
  });
});

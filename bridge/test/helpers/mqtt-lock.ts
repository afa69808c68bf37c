import {
  type Command,
  type CommandResult,
  commandResultBinding,
  decodeCommand,
  encodeCommandResult,
  encodeLockKeys,
  encodeStatus,
  type LockEvent,
  lockMqttLogin,
  NonceBook,
  sealReport,
  type Telemetry,
  Topics,
  verifyRemoteCommand,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { AUTHORITY, CLOUD_REPORT_KEY, lockKeyMaterial, lockReportKey, SITE_SECRET } from "./fixtures.js";

/**
 * A lock as the bridge sees it over MQTT, built from mqtt.js and protocol only (bridge tests cannot use the lock
 * simulator; the whole-site tests in test/site do): it logs in with its derived password, publishes its public keys
 * retained, seals every event and telemetry reading as a report (docs/reports.md) with its own counter, keeps the
 * signed states and time answers it is sent, and answers `ping`, `command_nonce` and `remote` (a remote command is
 * verified with protocol against the test authority; an accepted one emits `unlocked`/`locked` bound to its nonce).
 */
export class MqttLock {
  readonly commands: Command[] = [];
  readonly states: Uint8Array[] = [];
  readonly timeAnswers: Uint8Array[] = [];
  /** Every report this lock published, exactly as sent. */
  readonly sent: Uint8Array[] = [];
  ctr = 0;
  lastCounter = 0;
  /** The `v` of the signed state this lock says it runs, in its `ping` answer. */
  pingV = 0;
  /** When set, `remote` commands are refused with this code (a lock that says no). */
  refuseRemote: string | null = null;
  private seq = 0;
  private readonly nonces = new NonceBook();
  client!: MqttClient;
  readonly topics: Topics;
  readonly keys: { identity: Uint8Array; x25519: Uint8Array };
  private readonly reportKey: Uint8Array;

  constructor(
    readonly lockId: string,
    private readonly url: string,
    private readonly options: {
      password?: string;
      clientId?: string;
      clean?: boolean;
      prefix?: string;
      /** Publish the keys message at connect (default true). */
      publishKeys?: boolean;
      /** Seal with this key instead of the lock's own (a forger's report). */
      reportKey?: Uint8Array;
    } = {},
  ) {
    this.topics = new Topics(options.prefix);
    const material = lockKeyMaterial(lockId);
    this.keys = { identity: material.identity, x25519: material.x25519 };
    this.reportKey = options.reportKey ?? lockReportKey(lockId);
  }

  async connect(): Promise<void> {
    const t = this.topics;
    this.client = await mqtt.connectAsync(this.url, {
      ...lockMqttLogin(SITE_SECRET, this.lockId),
      ...(this.options.clientId !== undefined ? { clientId: this.options.clientId } : {}),
      ...(this.options.password !== undefined ? { password: this.options.password } : {}),
      clean: this.options.clean ?? false,
      reconnectPeriod: 0,
      will: { topic: t.lock(this.lockId, "status"), payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client.on("message", (topic, payload) => {
      if (topic === t.lock(this.lockId, "state")) {
        if (payload.length > 0) this.states.push(new Uint8Array(payload));
      } else if (topic === t.lock(this.lockId, "time/answer")) this.timeAnswers.push(new Uint8Array(payload));
      else if (topic === t.lock(this.lockId, "cmd")) void this.answer(decodeCommand(payload));
    });
    if (this.options.publishKeys !== false)
      await this.client.publishAsync(
        t.lock(this.lockId, "keys"),
        Buffer.from(encodeLockKeys({ lock: this.lockId, ...this.keys })),
        { qos: 1, retain: true },
      );
    await this.client.publishAsync(t.lock(this.lockId, "status"), Buffer.from(encodeStatus("online")), {
      qos: 1,
      retain: true,
    });
    await this.client.subscribeAsync(
      [t.lock(this.lockId, "cmd"), t.lock(this.lockId, "state"), t.lock(this.lockId, "time/answer")],
      { qos: 1 },
    );
  }

  private async answer(cmd: Command): Promise<void> {
    this.commands.push(cmd);
    let result: CommandResult;
    if (cmd.type === "ping") result = { id: cmd.id, ok: true, state: "locked", v: this.pingV, keys: this.keys };
    else if (cmd.type === "command_nonce") {
      result = {
        id: cmd.id,
        ok: true,
        nonce: this.nonces.issue(crypto.getRandomValues(new Uint8Array(16)), Date.now()),
      };
    } else if (cmd.type === "remote") {
      const verdict = verifyRemoteCommand(cmd.command, {
        lockId: this.lockId,
        authority: AUTHORITY.publicKey,
        nonces: this.nonces,
        nowMs: Date.now(),
        lastCounter: this.lastCounter,
      });
      if (this.refuseRemote) result = { id: cmd.id, ok: false, code: this.refuseRemote as CommandResult["code"] };
      else if (!verdict.ok) result = { id: cmd.id, ok: false, code: verdict.code, message: verdict.message };
      else {
        this.lastCounter = verdict.command.counter;
        result = { id: cmd.id, ok: true };
        await this.event({
          type: verdict.command.action === "unlock" ? "unlocked" : "locked",
          cmd: commandResultBinding(verdict.command.nonce),
        });
      }
    } else result = { id: cmd.id, ok: false, code: "invalid_command" };
    await this.client.publishAsync(
      this.topics.lock(this.lockId, "cmd/result"),
      Buffer.from(encodeCommandResult(result)),
      {
        qos: 1,
      },
    );
  }

  /** A sealed event report with the next counter (not published). */
  sealEvent(partial: Partial<LockEvent> = {}): Uint8Array {
    const seq = partial.seq ?? ++this.seq;
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(0, seq);
    Buffer.from(this.lockId.slice(0, 12)).copy(Buffer.from(id.buffer), 4);
    const event: LockEvent = { id, lock: this.lockId, seq, ts: 1_800_000_000 + seq, type: "unlocked", ...partial };
    return sealReport({ kind: "event", event, key: this.reportKey, cloudKeyId: CLOUD_REPORT_KEY.id, ctr: ++this.ctr });
  }

  /** A sealed telemetry report with the next counter (not published). */
  sealTelemetry(extra: Partial<Telemetry> = {}): Uint8Array {
    const telemetry: Telemetry = { lock: this.lockId, ts: 1_800_000_000, level: 80, mv: 2900, state: "ok", ...extra };
    return sealReport({
      kind: "telemetry",
      telemetry,
      key: this.reportKey,
      cloudKeyId: CLOUD_REPORT_KEY.id,
      ctr: ++this.ctr,
    });
  }

  /** Publishes a sealed event report (QoS 1: resolves on the bridge's PUBACK). */
  event(partial: Partial<LockEvent> = {}): Promise<unknown> {
    return this.publish("events", this.sealEvent(partial));
  }

  telemetry(extra: Partial<Telemetry> = {}): Promise<unknown> {
    return this.publish("telemetry", this.sealTelemetry(extra));
  }

  /** Publishes bytes as they are on one of this lock's topics. */
  publish(kind: "events" | "telemetry", bytes: Uint8Array): Promise<unknown> {
    this.sent.push(bytes);
    return this.client.publishAsync(this.topics.lock(this.lockId, kind), Buffer.from(bytes), { qos: 1 });
  }

  async close(): Promise<void> {
    if (this.client?.connected) {
      await this.client
        .publishAsync(this.topics.lock(this.lockId, "status"), Buffer.from(encodeStatus("offline")), {
          qos: 1,
          retain: true,
        })
        .catch(() => {});
    }
    await this.client?.endAsync(true);
  }
}

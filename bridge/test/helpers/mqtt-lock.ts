import {
  type Command,
  type CommandResult,
  decodeCommand,
  decodeSync,
  deriveLockPassword,
  encodeCommandResult,
  encodeEvent,
  encodeStatus,
  encodeTelemetry,
  type LockEvent,
  type SyncMessage,
  Topics,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { SITE_SECRET } from "./fixtures.js";

/**
 * A lock as the bridge sees it over MQTT, built from mqtt.js and protocol codecs only: it logs in with its derived
 * password, subscribes to its `sync` and `cmd`, records every sync, answers `ping` with its version, and publishes
 * events / telemetry / status on request. (The whole-site tests use the real lock simulator.)
 */
export class MqttLock {
  readonly syncs: SyncMessage[] = [];
  readonly commands: Command[] = [];
  v = 0;
  private seq = 0;
  client!: MqttClient;
  readonly topics: Topics;

  constructor(
    readonly lockId: string,
    private readonly url: string,
    private readonly options: {
      password?: string;
      clientId?: string;
      autoReport?: boolean;
      clean?: boolean;
      prefix?: string;
    } = {},
  ) {
    this.topics = new Topics(options.prefix);
  }

  async connect(): Promise<void> {
    const t = this.topics;
    this.client = await mqtt.connectAsync(this.url, {
      clientId: this.options.clientId ?? this.lockId,
      username: this.lockId,
      password: this.options.password ?? deriveLockPassword(SITE_SECRET, this.lockId),
      clean: this.options.clean ?? false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      will: { topic: t.lock(this.lockId, "status"), payload: Buffer.from("offline"), qos: 1, retain: true },
    });
    this.client.on("message", (topic, payload) => {
      if (topic === t.lock(this.lockId, "sync")) {
        const sync = decodeSync(payload);
        this.syncs.push(sync);
        if (this.options.autoReport !== false && sync.v > this.v) {
          this.v = sync.v;
          void this.telemetry({ v: sync.v });
        }
      } else if (topic === t.lock(this.lockId, "cmd")) {
        const cmd = decodeCommand(payload);
        this.commands.push(cmd);
        const result: CommandResult =
          cmd.type === "ping"
            ? { id: cmd.id, ok: true, state: "locked", v: this.v }
            : { id: cmd.id, ok: false, code: "invalid_command" };
        void this.client.publishAsync(t.lock(this.lockId, "cmd/result"), Buffer.from(encodeCommandResult(result)), {
          qos: 1,
        });
      }
    });
    await this.client.publishAsync(t.lock(this.lockId, "status"), Buffer.from(encodeStatus("online")), {
      qos: 1,
      retain: true,
    });
    await this.client.subscribeAsync([t.lock(this.lockId, "sync"), t.lock(this.lockId, "cmd")], { qos: 1 });
  }

  event(partial: Partial<LockEvent> = {}): Promise<unknown> {
    const seq = partial.seq ?? ++this.seq;
    const id = new Uint8Array(16);
    new DataView(id.buffer).setUint32(0, seq);
    Buffer.from(this.lockId.slice(0, 12)).copy(Buffer.from(id.buffer), 4);
    const event: LockEvent = { id, lock: this.lockId, seq, ts: 1_800_000_000 + seq, type: "unlocked", ...partial };
    return this.client.publishAsync(this.topics.lock(this.lockId, "events"), Buffer.from(encodeEvent(event)), {
      qos: 1,
    });
  }

  telemetry(extra: { v?: number; level?: number } = {}): Promise<unknown> {
    const payload = encodeTelemetry({
      lock: this.lockId,
      ts: 1_800_000_000,
      level: extra.level ?? 80,
      mv: 2900,
      state: "ok",
      ...(extra.v !== undefined ? { v: extra.v } : {}),
    });
    return this.client.publishAsync(this.topics.lock(this.lockId, "telemetry"), Buffer.from(payload), { qos: 1 });
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

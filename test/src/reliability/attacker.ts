import { createHash } from "node:crypto";
import { connectToLock, type LockSession, type VirtualRadio } from "@latchkey/lock-sim";
import {
  CborTag,
  type Command,
  type CommandResult,
  decodeCommandResult,
  decodeStrict,
  encodeCommand,
  keyPairFromSeed,
  MAX_STATE_BYTES,
  type RemoteAction,
  type SignedLockState,
  signHandOver,
  signKeyToken,
  signLockState,
  signRemoteCommand,
  signTimeAnswer,
  signUnlockProof,
  Topics,
  TrustHeaderLabel,
} from "@latchkey/protocol";
import mqtt, { type MqttClient } from "mqtt";
import { TestBroker } from "./broker.js";

/**
 * What the compromised gateway of docs/design.md section 7 holds and makes (issue 13 item 8): keys of its own (an
 * "authority", an issuer, a device) to sign anything a lock might take, hand-made hostile documents, a rogue broker
 * on the LAN the lock connects to, and a radio to write any GATT command to any lock in range. It holds no secret of
 * the victim's lock holder, because none is ever on the gateway: that is the property under test.
 */
const seed = (label: string, n = 32) => new Uint8Array(createHash("sha256").update(label).digest().subarray(0, n));

export type KeyPair = ReturnType<typeof keyPairFromSeed>;

export class Attacker {
  /** Signs states, time answers, commands and hand-overs as if it were an authority. */
  readonly authority: KeyPair;
  /** Mints key tokens. */
  readonly issuer: KeyPair & { kid: Uint8Array };
  /** The device key its tokens are bound to. */
  readonly device: KeyPair;
  private v = 9_000_000_000_000;

  constructor(name: string) {
    this.authority = keyPairFromSeed(seed(`${name}: authority`));
    this.issuer = { ...keyPairFromSeed(seed(`${name}: issuer`)), kid: seed(`${name}: issuer kid`, 8) };
    this.device = keyPairFromSeed(seed(`${name}: device`));
  }

  /**
   * A state for `lockId` signed with the attacker's key (or `secretKey`): its own issuer, nothing revoked, every event
   * "acknowledged", a `v` above anything the cloud signs; `header` adds a pin tag or a hand-over.
   */
  state(
    lockId: string,
    fields: Partial<SignedLockState> = {},
    header: { pinTag?: Uint8Array; handOver?: Uint8Array; secretKey?: Uint8Array } = {},
  ): Uint8Array {
    const iat = Math.floor(this.v / 1000);
    return signLockState(
      {
        lock: lockId,
        v: ++this.v,
        iat,
        issuers: [{ kid: this.issuer.kid, x: this.issuer.publicKey, notAfter: iat + 365 * 86_400 }],
        revoked: [],
        ack: 1_000_000,
        reportKey: { id: seed("attacker report kid", 8), x: seed("attacker report x") },
        ...fields,
      },
      {
        secretKey: header.secretKey ?? this.authority.secretKey,
        ...(header.pinTag ? { pinTag: header.pinTag } : {}),
        ...(header.handOver ? { handOver: header.handOver } : {}),
      },
    );
  }

  /** A hand-over to `newKey` signed by the attacker's key (no lock pinned to anything else takes it). */
  handOver(newKey: Uint8Array, fromV: number): Uint8Array {
    return signHandOver({ newKey, fromV }, this.authority.secretKey);
  }

  timeAnswer(lockId: string, nonce: Uint8Array, timeMs: number): Uint8Array {
    return signTimeAnswer({ lock: lockId, nonce, time: timeMs }, this.authority.secretKey);
  }

  command(lockId: string, nonce: Uint8Array, counter: number, action: RemoteAction = "unlock"): Uint8Array {
    return signRemoteCommand({ lock: lockId, nonce, counter, action }, this.authority.secretKey);
  }

  /**
   * A key token for `lockId`, valid for a day around `nowS`, bound to the attacker's device: signed by its own issuer
   * key, or (`kid`) naming another issuer's kid while still signed with its own key.
   */
  token(lockId: string, nowS: number, options: { kid?: Uint8Array; cti?: Uint8Array } = {}): Uint8Array {
    return signKeyToken(
      {
        iss: "https://gateway.attacker.test",
        sub: "+4799999999",
        aud: lockId,
        nbf: nowS - 3600,
        exp: nowS + 86_400,
        iat: nowS - 3600,
        cti: options.cti ?? seed(`attacker cti ${lockId} ${nowS}`, 16),
        cnf: this.device.publicKey,
      },
      { kid: options.kid ?? this.issuer.kid, secretKey: this.issuer.secretKey },
    );
  }

  /** The unlock command for a challenge `nonce`, proven with the attacker's device key. */
  unlock(lockId: string, token: Uint8Array, nonce: Uint8Array): Unsent {
    const proof = signUnlockProof({ lockId, nonce, token, deviceSecretKey: this.device.secretKey });
    return { type: "unlock", token, nonce, proof };
  }
}

/** One byte over the state cap: refused (`too_large`) before anything is decoded. */
export function oversizeDocument(): Uint8Array {
  return new Uint8Array(MAX_STATE_BYTES + 1).fill(0xd2);
}

/**
 * 18([h'', {1: [[[…1,500 levels…]]]}, h'', h'00…']) written by hand (no encoder should be asked to build it):
 * `too_deep` before any signature check.
 */
export function deeplyNestedDocument(): Uint8Array {
  return Uint8Array.from([
    0xd2,
    0x84,
    0x40,
    0xa1,
    0x01,
    ...new Array(1500).fill(0x81),
    0x00,
    0x40,
    0x58,
    0x40,
    ...new Array(64).fill(0),
  ]);
}

/**
 * A state of exactly MAX_STATE_BYTES, signed by `signer` (revocations fill it, `tz` trims it to the byte): what one BLE
 * transfer must carry whole.
 */
export function stateAtCap(attacker: Attacker, lockId: string): Uint8Array {
  const revocation = (n: number) => ({ cti: seed(`cap revocation ${n}`, 16) });
  let revocations = 0;
  const sized = (count: number, tz?: string) => {
    try {
      return attacker.state(lockId, {
        revoked: Array.from({ length: count }, (_, n) => revocation(n)),
        ...(tz ? { tz } : {}),
      });
    } catch {
      return undefined; // over the cap (signLockState refuses to sign it)
    }
  };
  while (sized(revocations + 1) !== undefined) revocations++;
  // One revocation less leaves room a tz of 1 to 64 characters can fill to the byte.
  for (const count of [revocations, revocations - 1]) {
    for (let length = 1; length <= 64; length++) {
      const doc = sized(count, "Z".repeat(length));
      if (doc?.length === MAX_STATE_BYTES) return doc;
    }
  }
  throw new Error("no state of exactly the cap was found");
}

/** The pin tag in a state's protected header (docs/trust.md "Envelope"), as a courier can read it off the wire. */
export function pinTagOf(state: Uint8Array): Uint8Array {
  const envelope = decodeStrict(state, { maxBytes: MAX_STATE_BYTES });
  if (!(envelope instanceof CborTag) || !Array.isArray(envelope.value)) throw new Error("not a COSE_Sign1");
  const protectedBytes = envelope.value[0];
  if (!(protectedBytes instanceof Uint8Array)) throw new Error("no protected header");
  const header = decodeStrict(protectedBytes);
  const tag = header instanceof Map ? header.get(TrustHeaderLabel.pinTag) : undefined;
  if (!(tag instanceof Uint8Array)) throw new Error("the state carries no pin tag");
  return tag;
}

/**
 * A rogue MQTT broker on the LAN (aedes, no logins: it takes any password, so it also learns the lock's) and the
 * attacker's client on it, subscribed to everything: whatever a lock pointed at it publishes is heard, and the
 * attacker can publish anything on any lock's topics, retained or not, and play a bridge's `cmd`.
 */
export class RogueBroker {
  private readonly broker = new TestBroker();
  private client: MqttClient | null = null;
  readonly heard: Array<{ topic: string; payload: Uint8Array }> = [];
  readonly topics = new Topics();
  private sent = 0;

  async start(): Promise<string> {
    const url = await this.broker.start();
    const client = await mqtt.connectAsync(url, {
      clientId: "rogue-gateway",
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    client.on("message", (topic, payload) => this.heard.push({ topic, payload: new Uint8Array(payload) }));
    await client.subscribeAsync("#", { qos: 1 });
    this.client = client;
    return url;
  }

  get url(): string {
    return this.broker.url;
  }

  private get mqtt(): MqttClient {
    if (this.client === null) throw new Error("the rogue broker is not started");
    return this.client;
  }

  /** Publishes `payload` on `<prefix>/locks/{lockId}/{kind}` (QoS 1; `retain` as a bridge's `state` is). */
  async publish(lockId: string, kind: string, payload: Uint8Array, retain = false): Promise<void> {
    await this.mqtt.publishAsync(this.topics.lock(lockId, kind as never), Buffer.from(payload), { qos: 1, retain });
  }

  /** What the lock published on one of its topics so far. */
  heardOn(lockId: string, kind: string): Uint8Array[] {
    const topic = this.topics.lock(lockId, kind as never);
    return this.heard.filter((m) => m.topic === topic).map((m) => m.payload);
  }

  /** Sends `cmd` to the lock on its `cmd` topic, as a bridge would, and waits for the matching `cmd/result`. */
  async command(lockId: string, cmd: Unsent): Promise<CommandResult> {
    const [result] = await this.commands(lockId, [cmd]);
    return result!;
  }

  /**
   * Sends every command at once (a flood does not wait for answers; one at a time, each round trip costs the
   * loopback's delayed ACKs) and answers the lock's results in the same order.
   */
  async commands(lockId: string, cmds: Unsent[]): Promise<CommandResult[]> {
    const resultTopic = this.topics.lock(lockId, "cmd/result");
    const ids = cmds.map(() => `rogue-${++this.sent}`);
    const results = new Map<string, CommandResult>();
    const answered = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.mqtt.off("message", onMessage);
        reject(new Error(`${cmds.length - results.size} of ${cmds.length} commands to ${lockId} got no cmd/result`));
      }, 20_000);
      const onMessage = (topic: string, payload: Buffer) => {
        if (topic !== resultTopic) return;
        const result = decodeCommandResult(new Uint8Array(payload));
        if (!ids.includes(result.id)) return;
        results.set(result.id, result);
        if (results.size < ids.length) return;
        clearTimeout(timer);
        this.mqtt.off("message", onMessage);
        resolve();
      };
      this.mqtt.on("message", onMessage);
    });
    await Promise.all(
      cmds.map((cmd, n) => this.publish(lockId, "cmd", encodeCommand({ ...cmd, id: ids[n]! } as Command))),
    );
    await answered;
    return ids.map((id) => results.get(id)!);
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true).catch(() => {});
    this.client = null;
    await this.broker.stop();
  }
}

/** A command as a sender writes it, before it numbers it (`Omit` over each member of the union). */
export type Unsent = Command extends infer C ? (C extends Command ? Omit<C, "id"> : never) : never;

/**
 * A GATT session with a lock from the attacker's own central on the radio: any command, no secret needed (nothing
 * carried over BLE needs one, docs/trust.md "Lock"); `send` numbers the commands.
 */
export class RadioSession {
  private sent = 0;

  private constructor(private readonly session: LockSession) {}

  static async open(radio: VirtualRadio, lockId: string): Promise<RadioSession> {
    const noble = await radio.noble();
    return new RadioSession(await connectToLock(noble, lockId, { timeoutMs: 10_000, requestTimeoutMs: 10_000 }));
  }

  send(cmd: Unsent): Promise<CommandResult> {
    return this.session.request({ ...cmd, id: `radio-${++this.sent}` } as Command);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

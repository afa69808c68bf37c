import { type RandomSource, randomFraction, seededRandom } from "../../random.js";
import type { HciLogSink } from "./btmon-log.js";
import { STATUS } from "./hci-codec.js";

/**
 * The link layer between emulated controllers (Core Vol 6 Part B, reduced to what hosts can observe): advertising
 * events seen by scanners in range (with the SCAN_REQ/SCAN_RSP exchange of an active scanner), CONNECT_IND,
 * connections whose data PDUs arrive in order and are acknowledged, lost PDUs retransmitted at the next connection
 * event until the supervision timeout gives up, LL control procedures (terminate, connection update, data length),
 * and faults on demand: latency, a loss rate drawn from a seeded generator, a link dropped, a pair out of range.
 *
 * Hosts never see a lost data PDU, only delay, exactly as over real air; what they can see is a disconnect with
 * reason 0x08 (Connection Timeout). Advertising PDUs are not retransmitted: a lost one is simply missed, and the
 * next advertising event (every advertising interval) brings it again.
 */
export interface AirOptions {
  /** Seed of the loss generator: the same seed and traffic lose the same PDUs. */
  seed?: string | number;
  /** One-way delay of every PDU, in ms (default 0: the next turn of the event loop). */
  latencyMs?: number;
  /** Fraction of PDUs lost on air, 0 ≤ p ≤ 1 (default 0). */
  lossRate?: number;
  /** Time from a lost data PDU to its retransmission, one connection event (default 0: the next turn). */
  connectionEventMs?: number;
  /**
   * ATT MTU the peers' ATT stacks go up to, when lower than what they ask. noble always asks 256 and bleno accepts up
   * to 256, so a phone that stops at 23 or 185 is modelled here: the air lowers the MTU of Exchange MTU PDUs it
   * carries, and both stacks then really run at that MTU. null (default) leaves them alone.
   */
  attMtu?: number | null;
  /** Received signal strength reported for every pair, in dBm (default -55). */
  rssi?: number;
  /** Where the air's notes go (btmon-like `=` lines). */
  log?: HciLogSink;
}

/** What one advertiser puts on air (LE Set Advertising Parameters / Data / Scan Response Data). */
export interface AdvertisingState {
  /** Advertising_Type of 7.8.5: 0 ADV_IND, 1 ADV_DIRECT_IND (high duty), 2 ADV_SCAN_IND, 3 ADV_NONCONN_IND, 4 low duty. */
  type: number;
  address: string;
  addressType: number;
  data: Uint8Array;
  scanResponse: Uint8Array;
  intervalMs: number;
}

export interface ScanningState {
  active: boolean;
}

/** Connection parameters in the units of the HCI commands (1.25 ms, events, 10 ms). */
export interface LinkParameters {
  interval: number;
  latency: number;
  timeout: number;
}

export interface InitiatingState {
  peerAddress: string;
  address: string;
  addressType: number;
  parameters: LinkParameters;
}

export interface AdvertisementSeen {
  /** Report Event_Type of 7.7.65.2 (4 is SCAN_RSP). */
  eventType: number;
  address: string;
  addressType: number;
  data: Uint8Array;
  rssi: number;
}

/** A controller as the air sees it. */
export interface AirStation {
  /** Unique on its air; names it in logs and in `setInRange`/`dropLinks`. */
  readonly name: string;
  /** Its public address: `setInRange`/`dropLinks` also take it. */
  readonly address: string;
  /** Largest LL data PDU payload it receives (27 without the data length extension, up to 251). */
  readonly maxDataLength: number;
  /** Payload octets it sends per PDU on a new connection (its host's suggested default). */
  readonly defaultDataLength: number;
  advertising(): AdvertisingState | null;
  scanning(): ScanningState | null;
  initiating(): InitiatingState | null;
  receiveAdvertisement(report: AdvertisementSeen): void;
  linkEstablished(link: AirLink, role: "central" | "peripheral"): void;
  receiveData(link: AirLink, llid: number, payload: Uint8Array): void;
  linkUpdated(link: AirLink): void;
  dataLengthChanged(link: AirLink): void;
  linkClosed(link: AirLink, reason: number): void;
}

/** The LLID of an LL data PDU: 0b10 starts an L2CAP PDU, 0b01 continues one. */
export const LLID = { CONTINUATION: 0b01, START: 0b10 } as const;

export type PduFate = "deliver" | "lose" | "drop-link";

export interface AirPdu {
  link: AirLink;
  from: AirStation;
  to: AirStation;
  /** Data PDUs carry their LLID; control PDUs their procedure. */
  llid: number | null;
  control: "terminate" | "connection-update" | "length" | null;
  payload: Uint8Array;
}

/** Sees every data and control PDU before it crosses; its answer overrides the loss draw (undefined: draw). */
export type FaultHook = (pdu: AirPdu) => PduFate | undefined;

interface Queued {
  llid: number | null;
  control: AirPdu["control"];
  payload: Uint8Array;
  apply?: () => void;
  acked?: () => void;
}

interface Direction {
  from: AirStation;
  to: AirStation;
  queue: Queued[];
  busy: boolean;
  misses: number;
}

export class AirLink {
  open = true;
  /** Payload octets each side sends per data PDU. */
  readonly txOctets = new Map<AirStation, number>();
  /** Data PDUs each side has put on air (deliveries, not attempts). */
  readonly delivered = new Map<AirStation, number>();
  readonly directions: Direction[];

  constructor(
    readonly id: number,
    readonly central: AirStation,
    readonly peripheral: AirStation,
    readonly centralAddress: { address: string; addressType: number },
    readonly peripheralAddress: { address: string; addressType: number },
    public parameters: LinkParameters,
    /** This link's loss draws. */
    readonly random: RandomSource,
  ) {
    this.directions = [
      { from: central, to: peripheral, queue: [], busy: false, misses: 0 },
      { from: peripheral, to: central, queue: [], busy: false, misses: 0 },
    ];
    this.delivered.set(central, 0).set(peripheral, 0);
  }

  peerOf(station: AirStation): AirStation {
    return station === this.central ? this.peripheral : this.central;
  }

  peerAddressOf(station: AirStation): { address: string; addressType: number } {
    return station === this.central ? this.peripheralAddress : this.centralAddress;
  }

  /** Connection events the link may miss in a row before the supervision timeout ends it. */
  get maxMissedEvents(): number {
    return Math.max(1, Math.floor((this.parameters.timeout * 10) / (this.parameters.interval * 1.25)));
  }
}

export interface AirStats {
  /** Data and control PDU transmissions, retransmissions included. */
  dataTransmissions: number;
  dataLost: number;
  advertisingSent: number;
  advertisingLost: number;
  connections: number;
  /** Links ended by the supervision timeout (loss, range, `dropLinks`). */
  timeouts: number;
  mtuLowered: number;
}

export class Air {
  readonly stats: AirStats = {
    dataTransmissions: 0,
    dataLost: 0,
    advertisingSent: 0,
    advertisingLost: 0,
    connections: 0,
    timeouts: 0,
    mtuLowered: 0,
  };
  private readonly stations = new Set<AirStation>();
  private readonly links = new Set<AirLink>();
  private readonly outOfRange = new Set<string>();
  private readonly rssiOverrides = new Map<string, number>();
  private readonly advertisers = new Map<AirStation, NodeJS.Timeout>();
  private readonly timers = new Set<NodeJS.Timeout | NodeJS.Immediate>();
  private options: Required<Omit<AirOptions, "log" | "seed">> & { log: HciLogSink | null };
  private seed: string | number;
  /** Advertising draws from its own generator and each link from its own, so timer-driven advertising events
   * cannot shift which data PDUs a link loses: a link's losses depend only on the seed and its own traffic. */
  private advertisingRandom: RandomSource;
  private fault: FaultHook | null = null;
  private nextLinkId = 1;
  private closed = false;

  constructor(options: AirOptions = {}) {
    this.options = {
      latencyMs: 0,
      lossRate: 0,
      connectionEventMs: 0,
      attMtu: null,
      rssi: -55,
      log: null,
    };
    this.seed = options.seed ?? "air";
    this.advertisingRandom = seededRandom(`${this.seed}/advertising`);
    this.configure(options);
  }

  /** Changes latency, loss, MTU ceiling, RSSI or log while the air runs (a new seed restarts the generator). */
  configure(options: AirOptions): void {
    const { seed, log, ...rest } = options;
    if (rest.lossRate !== undefined && !(rest.lossRate >= 0 && rest.lossRate <= 1))
      throw new RangeError(`lossRate ${rest.lossRate} is not between 0 and 1`);
    if (rest.latencyMs !== undefined && !(rest.latencyMs >= 0)) throw new RangeError(`latencyMs ${rest.latencyMs}`);
    if (rest.attMtu != null && !(Number.isInteger(rest.attMtu) && rest.attMtu >= 23 && rest.attMtu <= 517))
      throw new RangeError(`attMtu ${rest.attMtu} is outside 23..517`);
    for (const [k, v] of Object.entries(rest)) if (v !== undefined) (this.options as Record<string, unknown>)[k] = v;
    if (log !== undefined) this.options.log = log;
    if (seed !== undefined) {
      this.seed = seed;
      this.advertisingRandom = seededRandom(`${seed}/advertising`);
    }
  }

  /** Decides the fate of each data and control PDU (tests use it to drop a link at an exact point). */
  setFault(hook: FaultHook | null): void {
    this.fault = hook;
  }

  join(station: AirStation): void {
    if (this.closed) throw new Error("this air is closed");
    this.stations.add(station);
  }

  /** The station is gone (powered off, reset, process ended): its peers lose their links by supervision timeout. */
  leave(station: AirStation): void {
    this.abandon(station);
    this.stopAdvertising(station);
    this.stations.delete(station);
  }

  /** Ends the station's links without telling it (its controller reset); the peers time out. */
  abandon(station: AirStation): void {
    for (const link of [...this.links])
      if (link.central === station || link.peripheral === station)
        this.closeLink(link, (s) => (s === station ? null : STATUS.CONNECTION_TIMEOUT));
  }

  /** Puts two stations (or addresses) in or out of radio range; going out of range ends their links. */
  setInRange(a: AirStation | string, b: AirStation | string, inRange: boolean): void {
    const key = this.pairKey(this.nameOf(a), this.nameOf(b));
    if (inRange) this.outOfRange.delete(key);
    else {
      this.outOfRange.add(key);
      this.dropLinks(a, b);
    }
  }

  setRssi(a: AirStation | string, b: AirStation | string, dbm: number): void {
    this.rssiOverrides.set(this.pairKey(this.nameOf(a), this.nameOf(b)), dbm);
  }

  rssi(a: AirStation, b: AirStation): number {
    return this.rssiOverrides.get(this.pairKey(a.name, b.name)) ?? this.options.rssi;
  }

  /** Supervision timeout on demand: every link of `a` (with `b`, if given) ends, both ends told `reason`. */
  dropLinks(a: AirStation | string, b?: AirStation | string, reason: number = STATUS.CONNECTION_TIMEOUT): number {
    const an = this.nameOf(a);
    const bn = b === undefined ? undefined : this.nameOf(b);
    let dropped = 0;
    for (const link of [...this.links]) {
      const names = [link.central.name, link.peripheral.name];
      if (!names.includes(an) || (bn !== undefined && !names.includes(bn))) continue;
      this.closeLink(link, () => reason);
      dropped++;
    }
    return dropped;
  }

  activeLinks(): AirLink[] {
    return [...this.links];
  }

  close(): void {
    this.closed = true;
    for (const t of this.advertisers.values()) clearInterval(t);
    this.advertisers.clear();
    for (const t of this.timers) {
      clearTimeout(t as NodeJS.Timeout);
      clearImmediate(t as NodeJS.Immediate);
    }
    this.timers.clear();
    for (const link of [...this.links]) this.closeLink(link, () => null, false);
  }

  // ---- advertising and connection set-up ---------------------------------------------------------------------------

  /** The station enabled, disabled or changed its advertising. */
  advertisingChanged(station: AirStation): void {
    this.stopAdvertising(station);
    const adv = station.advertising();
    if (adv === null) return;
    this.later(() => this.advertisingEvent(station));
    const timer = setInterval(() => this.advertisingEvent(station), Math.max(20, adv.intervalMs));
    timer.unref();
    this.advertisers.set(station, timer);
  }

  /** The station started scanning: it hears every advertiser in range at their next advertising event. */
  scanningChanged(station: AirStation): void {
    if (station.scanning() === null) return;
    for (const advertiser of this.advertisers.keys()) this.later(() => this.advertisingEvent(advertiser, station));
  }

  /** The station started initiating: it connects at the target's next connectable advertising event. */
  initiatingChanged(station: AirStation): void {
    const target = station.initiating();
    if (target === null) return;
    for (const advertiser of this.advertisers.keys())
      if (advertiser.advertising()?.address === target.peerAddress)
        this.later(() => this.advertisingEvent(advertiser, station));
  }

  private stopAdvertising(station: AirStation): void {
    const timer = this.advertisers.get(station);
    if (timer !== undefined) clearInterval(timer);
    this.advertisers.delete(station);
  }

  private advertisingEvent(advertiser: AirStation, only?: AirStation): void {
    const adv = advertiser.advertising();
    if (adv === null || !this.stations.has(advertiser)) return;
    const connectable = adv.type === 0 || adv.type === 1 || adv.type === 4;
    const scannable = adv.type === 0 || adv.type === 2;
    for (const station of [...this.stations]) {
      if (station === advertiser || (only !== undefined && station !== only)) continue;
      if (!this.inRange(advertiser, station)) continue;
      const initiating = station.initiating();
      if (connectable && initiating !== null && initiating.peerAddress === adv.address) {
        // The initiator answers this advertising PDU with CONNECT_IND; either PDU may be lost.
        if (this.advertisingLost() || this.advertisingLost()) continue;
        this.establish(station, advertiser, initiating, adv);
        return; // the advertiser stops advertising once connected (Vol 6 Part B 4.4.2)
      }
      const scan = station.scanning();
      if (scan === null || this.advertisingLost()) continue;
      const rssi = this.rssi(advertiser, station);
      const base = { address: adv.address, addressType: adv.addressType, rssi };
      station.receiveAdvertisement({ ...base, eventType: adv.type === 4 ? 1 : adv.type, data: adv.data });
      if (scan.active && scannable && !this.advertisingLost() && !this.advertisingLost())
        station.receiveAdvertisement({ ...base, eventType: 4, data: adv.scanResponse });
    }
  }

  private advertisingLost(): boolean {
    this.stats.advertisingSent++;
    if (this.options.lossRate === 0 || randomFraction(this.advertisingRandom) >= this.options.lossRate) return false;
    this.stats.advertisingLost++;
    return true;
  }

  private establish(central: AirStation, peripheral: AirStation, init: InitiatingState, adv: AdvertisingState): void {
    this.stopAdvertising(peripheral);
    const id = this.nextLinkId++;
    const link = new AirLink(
      id,
      central,
      peripheral,
      { address: init.address, addressType: init.addressType },
      { address: adv.address, addressType: adv.addressType },
      init.parameters,
      seededRandom(`${this.seed}/link-${id}`),
    );
    link.txOctets.set(central, Math.min(central.defaultDataLength, peripheral.maxDataLength));
    link.txOctets.set(peripheral, Math.min(peripheral.defaultDataLength, central.maxDataLength));
    this.links.add(link);
    this.stats.connections++;
    this.note(`connection ${link.id}: ${central.name} (central) ↔ ${peripheral.name} (peripheral)`);
    peripheral.linkEstablished(link, "peripheral");
    central.linkEstablished(link, "central");
    // Controllers that start above 27 octets run the data length update procedure on their own right away.
    if (link.txOctets.get(central)! > 27 || link.txOctets.get(peripheral)! > 27) {
      central.dataLengthChanged(link);
      peripheral.dataLengthChanged(link);
    }
  }

  // ---- connections -------------------------------------------------------------------------------------------------

  /** Queues an LL data PDU; `acked` runs once the peer acknowledged it (it is then out of the sender's buffer). */
  send(link: AirLink, from: AirStation, llid: number, payload: Uint8Array, acked?: () => void): void {
    if (!link.open) return;
    const queued: Queued = { llid, control: null, payload: this.capMtu(llid, payload) };
    if (acked !== undefined) queued.acked = acked;
    this.enqueue(link, from, queued);
  }

  /** LL_TERMINATE_IND from `from`: after what it already queued, the link ends; the peer is told `reason`. */
  terminate(link: AirLink, from: AirStation, reason: number): void {
    this.enqueue(link, from, {
      llid: null,
      control: "terminate",
      payload: Uint8Array.of(reason),
      apply: () =>
        this.closeLink(link, (s) => (s === from ? STATUS.CONNECTION_TERMINATED_BY_LOCAL_HOST : reason), false),
    });
  }

  /** LL_CONNECTION_UPDATE_IND (or the parameter request of a peripheral): both ends get the new parameters. */
  updateLink(link: AirLink, from: AirStation, parameters: LinkParameters): void {
    this.enqueue(link, from, {
      llid: null,
      control: "connection-update",
      payload: new Uint8Array(0),
      apply: () => {
        link.parameters = parameters;
        link.central.linkUpdated(link);
        link.peripheral.linkUpdated(link);
      },
    });
  }

  /** LL_LENGTH_REQ/RSP: `from` sends up to `octets` per PDU from now on (no more than the peer receives). */
  setDataLength(link: AirLink, from: AirStation, octets: number): void {
    this.enqueue(link, from, {
      llid: null,
      control: "length",
      payload: new Uint8Array(0),
      apply: () => {
        const next = Math.min(octets, link.peerOf(from).maxDataLength);
        if (next === link.txOctets.get(from)) return;
        link.txOctets.set(from, next);
        link.central.dataLengthChanged(link);
        link.peripheral.dataLengthChanged(link);
      },
    });
  }

  private enqueue(link: AirLink, from: AirStation, queued: Queued): void {
    if (!link.open) return;
    const direction = link.directions.find((d) => d.from === from);
    if (direction === undefined) throw new Error(`${from.name} is not on link ${link.id}`);
    direction.queue.push(queued);
    this.pump(link, direction);
  }

  private pump(link: AirLink, direction: Direction): void {
    if (direction.busy || direction.queue.length === 0 || !link.open) return;
    direction.busy = true;
    this.later(() => this.attempt(link, direction), this.options.latencyMs);
  }

  private attempt(link: AirLink, direction: Direction): void {
    if (!link.open) return;
    const head = direction.queue[0]!;
    this.stats.dataTransmissions++;
    const pdu: AirPdu = {
      link,
      from: direction.from,
      to: direction.to,
      llid: head.llid,
      control: head.control,
      payload: head.payload,
    };
    const fate =
      this.fault?.(pdu) ??
      (this.options.lossRate > 0 && randomFraction(link.random) < this.options.lossRate ? "lose" : "deliver");
    if (fate === "drop-link") {
      this.note(`connection ${link.id}: dropped on demand`);
      this.closeLink(link, () => STATUS.CONNECTION_TIMEOUT);
      return;
    }
    if (fate === "lose") {
      this.stats.dataLost++;
      direction.misses++;
      if (direction.misses > link.maxMissedEvents) {
        this.note(`connection ${link.id}: ${direction.misses} connection events missed, supervision timeout`);
        this.closeLink(link, () => STATUS.CONNECTION_TIMEOUT);
        return;
      }
      this.later(() => this.attempt(link, direction), this.options.connectionEventMs + this.options.latencyMs);
      return;
    }
    direction.misses = 0;
    direction.queue.shift();
    direction.busy = false;
    if (head.control !== null) head.apply?.();
    else {
      link.delivered.set(direction.from, link.delivered.get(direction.from)! + 1);
      direction.to.receiveData(link, head.llid!, head.payload);
    }
    head.acked?.();
    this.pump(link, direction);
  }

  private closeLink(link: AirLink, reasonFor: (s: AirStation) => number | null, timeout = true): void {
    if (!link.open) return;
    link.open = false;
    this.links.delete(link);
    for (const d of link.directions) d.queue.length = 0;
    if (timeout) this.stats.timeouts++;
    for (const station of [link.central, link.peripheral]) {
      const reason = reasonFor(station);
      if (reason !== null) station.linkClosed(link, reason);
    }
  }

  // ---- helpers -----------------------------------------------------------------------------------------------------

  /** Lowers the MTU of an ATT Exchange MTU Request/Response (L2CAP length 3 on CID 0x0004) to the peers' ceiling. */
  private capMtu(llid: number, payload: Uint8Array): Uint8Array {
    const cap = this.options.attMtu;
    if (cap === null || llid !== LLID.START || payload.length < 7) return payload;
    const l2len = payload[0]! | (payload[1]! << 8);
    const cid = payload[2]! | (payload[3]! << 8);
    const op = payload[4]!;
    if (l2len !== 3 || cid !== 0x0004 || (op !== 0x02 && op !== 0x03)) return payload;
    const mtu = payload[5]! | (payload[6]! << 8);
    if (mtu <= cap) return payload;
    const out = payload.slice();
    out[5] = cap & 0xff;
    out[6] = cap >> 8;
    this.stats.mtuLowered++;
    this.note(`ATT ${op === 0x02 ? "Client" : "Server"} RX MTU ${mtu} lowered to ${cap} (the peers' ATT ceiling)`);
    return out;
  }

  private later(fn: () => void, ms = 0): void {
    if (this.closed) return;
    if (ms > 0) {
      const t = setTimeout(() => {
        this.timers.delete(t);
        fn();
      }, ms);
      this.timers.add(t);
    } else {
      const t = setImmediate(() => {
        this.timers.delete(t);
        fn();
      });
      this.timers.add(t);
    }
  }

  private inRange(a: AirStation, b: AirStation): boolean {
    return !this.outOfRange.has(this.pairKey(a.name, b.name));
  }

  private nameOf(s: AirStation | string): string {
    if (typeof s !== "string") return s.name;
    for (const station of this.stations)
      if (station.name === s || station.address === s.toLowerCase()) return station.name;
    return s;
  }

  private pairKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private note(text: string): void {
    this.options.log?.(`= Air: ${text}`);
  }
}

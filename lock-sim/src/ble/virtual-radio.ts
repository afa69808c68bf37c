import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import { DEFAULT_ATT_MTU } from "@latchkey/protocol";
import { loadNobleWithBindings, type Noble } from "@latchkey/runtime";

/**
 * An in-process BLE medium. Peripherals (simulated locks) advertise on it; each central gets its own bindings object
 * implementing the bindings interface of @abandonware/noble (the same one noble's HCI, macOS and WebSocket bindings
 * implement: an EventEmitter with init/startScanning/connect/discoverServices/read/write/notify… that answers with
 * stateChange/discover/connect/servicesDiscover/read/write/notify… events), so
 * `require("@abandonware/noble/with-bindings")(radio.bindings())` is a real noble whose public API works unchanged.
 * Everything the radio delivers is asynchronous and in order, as over the air.
 */
export type CharacteristicProperty = "read" | "write" | "writeWithoutResponse" | "notify";

export interface VirtualCharacteristic {
  uuid: string;
  properties: CharacteristicProperty[];
}

export interface VirtualService {
  uuid: string;
  characteristics: VirtualCharacteristic[];
}

/** The central's end of a connection, as the peripheral sees it. */
export interface CentralLink {
  readonly mtu: number;
  notify(serviceUuid: string, characteristicUuid: string, data: Uint8Array): void;
  /** The peripheral ends the connection. */
  disconnect(): void;
}

/** The peripheral's end of a connection. */
export interface PeripheralConnection {
  read(serviceUuid: string, characteristicUuid: string): Uint8Array;
  write(serviceUuid: string, characteristicUuid: string, data: Uint8Array): void;
  subscribe(serviceUuid: string, characteristicUuid: string, on: boolean): void;
  /** The link is gone (central disconnected, out of range). */
  closed(): void;
}

export interface VirtualPeripheral {
  /** Stable identity; the radio derives a random static address from it. */
  id: string;
  localName: string;
  advertisedServiceUuids: string[];
  services: VirtualService[];
  rssi?: number;
  /** Largest ATT MTU the peripheral supports (default 23). */
  mtu?: number;
  connect(link: CentralLink): PeripheralConnection;
}

export interface AdvertisementHandle {
  readonly address: string;
  /** Stops advertising and drops its connections (the lock lost power or went out of range). */
  stop(): void;
}

export interface VirtualRadioOptions {
  /** ATT MTU every central asks for (default 23, the BLE 4.0 minimum; phones usually get 185 or more). */
  mtu?: number;
  /** Connections a peripheral accepts at once (default 1, as most lock firmware). */
  maxConnectionsPerPeripheral?: number;
}

interface Advertiser {
  peripheral: VirtualPeripheral;
  address: string;
  uuid: string;
  connections: Map<VirtualCentralBindings, Connection>;
}

interface Connection {
  peripheral: PeripheralConnection;
  mtu: number;
  /** Counts the radio's connections, so a fault hook can tell one link from the next. */
  id: number;
}

/**
 * What crosses a virtual link, as a test's fault hook sees it just before delivery: the central's service discovery,
 * its characteristic writes, the peripheral's notifications. The radio sits above the link layer, where BLE loses
 * nothing (the controllers resend), so the one fault it models is the link ending mid-exchange.
 */
export interface RadioPdu {
  link: number;
  central: VirtualCentralBindings;
  peripheralId: string;
  op: "discover-services" | "write" | "notify";
  data: Uint8Array;
}

/** "drop-link": the PDU never arrives and the link ends there (supervision timeout), both ends told. */
export type RadioFault = (pdu: RadioPdu) => "drop-link" | undefined;

/** BLE 4.x advertising leaves 29 bytes for a complete local name in the scan response. */
const MAX_LOCAL_NAME_BYTES = 29;

export class VirtualRadio {
  private readonly advertisers = new Map<string, Advertiser>();
  private readonly centrals = new Set<VirtualCentralBindings>();
  private attMtu: number = DEFAULT_ATT_MTU;
  private readonly outOfRange = new Set<string>();
  private links = 0;
  /** @internal */
  fault: RadioFault | null = null;
  readonly maxConnections: number;

  constructor(options: VirtualRadioOptions = {}) {
    this.setMtu(options.mtu ?? DEFAULT_ATT_MTU);
    this.maxConnections = options.maxConnectionsPerPeripheral ?? 1;
  }

  /** ATT MTU every central asks for. */
  get mtu(): number {
    return this.attMtu;
  }

  /** The ATT MTU centrals ask for from now on (a test runs one suite at several); open links keep theirs. */
  setMtu(mtu: number): void {
    if (!Number.isInteger(mtu) || mtu < DEFAULT_ATT_MTU || mtu > 517) throw new RangeError("radio mtu must be 23..517");
    this.attMtu = mtu;
  }

  /** A test's hook on every PDU about to cross (null: none), to end a link at an exact point. */
  setFault(fault: RadioFault | null): void {
    this.fault = fault;
  }

  /**
   * Puts a peripheral (by its id) out of every central's range or back: out of range it is not heard, a connection
   * to it fails, and its open links end.
   */
  setInRange(peripheralId: string, inRange: boolean): void {
    if (inRange) {
      this.outOfRange.delete(peripheralId);
      for (const central of this.centrals) for (const a of this.advertisers.values()) central.announce(a);
      return;
    }
    this.outOfRange.add(peripheralId);
    for (const a of this.advertisers.values()) {
      if (a.peripheral.id !== peripheralId) continue;
      for (const central of [...a.connections.keys()]) central.lose(a.uuid);
    }
  }

  /** @internal */
  inRange(a: Advertiser): boolean {
    return !this.outOfRange.has(a.peripheral.id);
  }

  /** @internal */
  nextLink(): number {
    return ++this.links;
  }

  /** A fresh central: a bindings object for `require("@abandonware/noble/with-bindings")`. */
  bindings(): VirtualCentralBindings {
    const central = new VirtualCentralBindings(this);
    this.centrals.add(central);
    return central;
  }

  /** A real noble instance on a fresh central of this radio (noble is loaded lazily). */
  async noble(): Promise<Noble> {
    const withBindings = await loadNobleWithBindings();
    return withBindings(this.bindings());
  }

  advertise(peripheral: VirtualPeripheral): AdvertisementHandle {
    const address = addressFor(peripheral.id);
    const uuid = address.replaceAll(":", "");
    if (this.advertisers.has(uuid)) throw new Error(`a peripheral "${peripheral.id}" already advertises on this radio`);
    const advertiser: Advertiser = { peripheral, address, uuid, connections: new Map() };
    this.advertisers.set(uuid, advertiser);
    for (const central of this.centrals) central.announce(advertiser);
    return {
      address,
      stop: () => {
        if (this.advertisers.get(uuid) !== advertiser) return;
        this.advertisers.delete(uuid);
        for (const [central, connection] of advertiser.connections) {
          connection.peripheral.closed();
          central.dropped(uuid);
        }
        advertiser.connections.clear();
      },
    };
  }

  /** Peripherals advertising now. */
  get peripheralCount(): number {
    return this.advertisers.size;
  }

  /** @internal */
  advertiserFor(uuid: string): Advertiser | undefined {
    return this.advertisers.get(uuid);
  }

  /** @internal */
  allAdvertisers(): Iterable<Advertiser> {
    return this.advertisers.values();
  }

  /** @internal */
  forget(central: VirtualCentralBindings): void {
    this.centrals.delete(central);
  }

  static advertisement(advertiser: Advertiser) {
    const p = advertiser.peripheral;
    return {
      localName: truncateUtf8(p.localName, MAX_LOCAL_NAME_BYTES),
      txPowerLevel: 0,
      serviceUuids: [...p.advertisedServiceUuids],
      manufacturerData: undefined,
      serviceData: [],
    };
  }
}

/** A locally administered random static address (top two bits set), stable for an id. */
function addressFor(id: string): string {
  const h = createHash("sha256").update(`latchkey-virtual-radio:${id}`).digest();
  h[0] = h[0]! | 0xc0;
  return [...h.subarray(0, 6)].map((b) => b.toString(16).padStart(2, "0")).join(":");
}

function truncateUtf8(text: string, maxBytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}

const later = (fn: () => void) => setImmediate(fn);
const buf = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/**
 * One central's bindings (the object noble drives). Method names and event arguments follow noble's bindings
 * (lib/noble.js listens for these events; lib/hci-socket/bindings.js is the reference implementation).
 */
export class VirtualCentralBindings extends EventEmitter {
  private powered = false;
  private scanning = false;
  private scanFilter: string[] = [];
  private allowDuplicates = false;
  private closedByUser = false;

  constructor(private readonly radio: VirtualRadio) {
    super();
  }

  init(): void {
    later(() => {
      this.powered = true;
      this.emit("addressChange", "02:00:00:00:00:01");
      this.emit("stateChange", "poweredOn");
    });
  }

  /** Powers the central's adapter off (or back on): scans stop and connections drop, as on a phone. */
  setPowered(on: boolean): void {
    later(() => {
      if (this.powered === on) return;
      this.powered = on;
      if (!on) {
        this.scanning = false;
        this.dropConnections((uuid) => this.emit("disconnect", uuid, 0x16));
      }
      this.emit("stateChange", on ? "poweredOn" : "poweredOff");
    });
  }

  setScanParameters(): void {
    later(() => this.emit("scanParametersSet"));
  }

  startScanning(serviceUuids?: string[], allowDuplicates?: boolean): void {
    later(() => {
      if (!this.powered) return;
      this.scanning = true;
      this.scanFilter = (serviceUuids ?? []).map((u) => u.toLowerCase());
      this.allowDuplicates = allowDuplicates === true;
      this.emit("scanStart", !this.allowDuplicates);
      for (const a of this.radio.allAdvertisers()) this.announce(a);
    });
  }

  stopScanning(): void {
    later(() => {
      this.scanning = false;
      this.emit("scanStop");
    });
  }

  /** @internal A peripheral is advertising where this central can hear it. */
  announce(a: Advertiser): void {
    later(() => {
      if (!this.scanning || !this.powered || this.radio.advertiserFor(a.uuid) !== a || !this.radio.inRange(a)) return;
      const wanted = this.scanFilter;
      const services = a.peripheral.advertisedServiceUuids;
      if (wanted.length > 0 && !services.some((s) => wanted.includes(s.toLowerCase()))) return;
      const advertisement = VirtualRadio.advertisement(a);
      this.emit("discover", a.uuid, a.address, "random", true, advertisement, a.peripheral.rssi ?? -60, true);
    });
  }

  /** @internal The peripheral went away while connected. */
  dropped(uuid: string): void {
    later(() => this.emit("disconnect", uuid, 0x08));
  }

  /** @internal The link to `uuid` ended without either end asking (supervision timeout, 0x08): both are told. */
  lose(uuid: string): void {
    const a = this.radio.advertiserFor(uuid);
    const connection = a?.connections.get(this);
    if (a === undefined || connection === undefined) return;
    a.connections.delete(this);
    connection.peripheral.closed();
    this.dropped(uuid);
  }

  /** Whether the radio's fault hook ends the link instead of delivering this PDU (it has then ended it). */
  private faulted(a: Advertiser, connection: Connection, op: RadioPdu["op"], data: Uint8Array): boolean {
    const pdu = { link: connection.id, central: this, peripheralId: a.peripheral.id, op, data };
    if (this.radio.fault?.(pdu) !== "drop-link") return false;
    this.lose(a.uuid);
    return true;
  }

  connect(uuid: string): void {
    later(() => {
      const a = this.radio.advertiserFor(uuid);
      if (!this.powered) return this.emit("connect", uuid, new Error("the adapter is powered off"));
      if (a === undefined || !this.radio.inRange(a)) {
        return this.emit("connect", uuid, new Error("peripheral not in range"));
      }
      if (a.connections.has(this)) return this.emit("connect", uuid, new Error("already connected"));
      if (a.connections.size >= this.radio.maxConnections) {
        return this.emit("connect", uuid, new Error("peripheral busy: it accepts no more connections"));
      }
      const mtu = Math.min(this.radio.mtu, a.peripheral.mtu ?? DEFAULT_ATT_MTU);
      const link: CentralLink = {
        mtu,
        notify: (serviceUuid, characteristicUuid, data) => {
          const copy = buf(new Uint8Array(data));
          later(() => {
            if (a.connections.get(this) !== connection) return;
            if (this.faulted(a, connection, "notify", copy)) return;
            this.emit("read", uuid, serviceUuid, characteristicUuid, copy, true);
          });
        },
        disconnect: () => {
          if (a.connections.get(this) !== connection) return;
          a.connections.delete(this);
          connection.peripheral.closed();
          later(() => this.emit("disconnect", uuid, 0x13));
        },
      };
      const connection: Connection = { peripheral: a.peripheral.connect(link), mtu, id: this.radio.nextLink() };
      a.connections.set(this, connection);
      this.emit("connect", uuid);
      this.emit("onMtu", uuid, mtu);
    });
  }

  cancelConnect(): void {}

  disconnect(uuid: string): void {
    later(() => {
      const a = this.radio.advertiserFor(uuid);
      const connection = a?.connections.get(this);
      if (a !== undefined && connection !== undefined) {
        a.connections.delete(this);
        connection.peripheral.closed();
      }
      this.emit("disconnect", uuid, 0x16);
    });
  }

  updateRssi(uuid: string): void {
    later(() => this.emit("rssiUpdate", uuid, this.radio.advertiserFor(uuid)?.peripheral.rssi ?? -127));
  }

  discoverServices(uuid: string, uuids?: string[]): void {
    later(() => {
      const a = this.connected(uuid);
      if (a === undefined || this.faulted(a, a.connections.get(this)!, "discover-services", new Uint8Array(0))) return;
      const wanted = (uuids ?? []).map((u) => u.toLowerCase());
      const found = a.peripheral.services.map((s) => s.uuid).filter((u) => wanted.length === 0 || wanted.includes(u));
      this.emit("servicesDiscover", uuid, found);
    });
  }

  discoverIncludedServices(uuid: string, serviceUuid: string): void {
    later(() => this.emit("includedServicesDiscover", uuid, serviceUuid, []));
  }

  discoverCharacteristics(uuid: string, serviceUuid: string, characteristicUuids?: string[]): void {
    later(() => {
      const service = this.connected(uuid)?.peripheral.services.find((s) => s.uuid === serviceUuid);
      if (service === undefined) return;
      const wanted = (characteristicUuids ?? []).map((u) => u.toLowerCase());
      const found = service.characteristics
        .filter((c) => wanted.length === 0 || wanted.includes(c.uuid))
        .map((c) => ({ uuid: c.uuid, properties: [...c.properties] }));
      this.emit("characteristicsDiscover", uuid, serviceUuid, found);
    });
  }

  read(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    later(() => {
      const connection = this.connected(uuid)?.connections.get(this);
      if (connection === undefined) return;
      const data = connection.peripheral.read(serviceUuid, characteristicUuid);
      this.emit("read", uuid, serviceUuid, characteristicUuid, buf(data), false);
    });
  }

  write(uuid: string, serviceUuid: string, characteristicUuid: string, data: Buffer): void {
    const copy = new Uint8Array(data);
    later(() => {
      const connection = this.connected(uuid)?.connections.get(this);
      if (connection === undefined) return;
      if (copy.length > connection.mtu - 3) return; // a real controller refuses it; the central times out
      if (this.faulted(this.radio.advertiserFor(uuid)!, connection, "write", copy)) return;
      connection.peripheral.write(serviceUuid, characteristicUuid, copy);
      this.emit("write", uuid, serviceUuid, characteristicUuid);
    });
  }

  broadcast(uuid: string, serviceUuid: string, characteristicUuid: string, broadcast: boolean): void {
    later(() => this.emit("broadcast", uuid, serviceUuid, characteristicUuid, broadcast));
  }

  notify(uuid: string, serviceUuid: string, characteristicUuid: string, on: boolean): void {
    later(() => {
      const connection = this.connected(uuid)?.connections.get(this);
      if (connection === undefined) return;
      connection.peripheral.subscribe(serviceUuid, characteristicUuid, on);
      this.emit("notify", uuid, serviceUuid, characteristicUuid, on);
    });
  }

  discoverDescriptors(uuid: string, serviceUuid: string, characteristicUuid: string): void {
    later(() => {
      const c = this.connected(uuid)
        ?.peripheral.services.find((s) => s.uuid === serviceUuid)
        ?.characteristics.find((ch) => ch.uuid === characteristicUuid);
      const descriptors = c?.properties.includes("notify") ? ["2902"] : [];
      this.emit("descriptorsDiscover", uuid, serviceUuid, characteristicUuid, descriptors);
    });
  }

  readValue(uuid: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    later(() => this.emit("valueRead", uuid, serviceUuid, characteristicUuid, descriptorUuid, Buffer.alloc(0)));
  }

  writeValue(uuid: string, serviceUuid: string, characteristicUuid: string, descriptorUuid: string): void {
    later(() => this.emit("valueWrite", uuid, serviceUuid, characteristicUuid, descriptorUuid));
  }

  readHandle(uuid: string, handle: number): void {
    later(() => this.emit("handleRead", uuid, handle, Buffer.alloc(0)));
  }

  writeHandle(uuid: string, handle: number): void {
    later(() => this.emit("handleWrite", uuid, handle));
  }

  reset(): void {}

  /** Closes each of this central's connections at its peripheral; `dropped` hears each peripheral's uuid. */
  private dropConnections(dropped?: (uuid: string) => void): void {
    for (const a of this.radio.allAdvertisers()) {
      const connection = a.connections.get(this);
      if (connection === undefined) continue;
      a.connections.delete(this);
      connection.peripheral.closed();
      dropped?.(a.uuid);
    }
  }

  /** Leaves the radio: drops this central's connections. */
  stop(): void {
    if (this.closedByUser) return;
    this.closedByUser = true;
    this.scanning = false;
    this.dropConnections();
    this.radio.forget(this);
  }

  private connected(uuid: string): Advertiser | undefined {
    const a = this.radio.advertiserFor(uuid);
    return a?.connections.has(this) ? a : undefined;
  }
}

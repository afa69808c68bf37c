/**
 * The Linux kernel's `struct hci_filter` for raw HCI sockets (net/bluetooth/hci_sock.c): a packet type mask, a mask
 * of event codes, and an opcode that, when set, passes only the Command Complete/Status events of that command.
 * noble and bleno set one right after binding; both emulated socket classes apply it the way the kernel does.
 */
export interface HciFilter {
  typeMask: number;
  eventMask: [number, number];
  opcode: number;
}

export class HciFilterError extends Error {
  readonly code = "EINVAL";
  constructor(length: number) {
    super(`EINVAL, an hci_filter is 14 octets or more, got ${length}`);
    this.name = "HciFilterError";
  }
}

export function parseHciFilter(bytes: Uint8Array): HciFilter {
  if (bytes.length < 14) throw new HciFilterError(bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    typeMask: view.getUint32(0, true),
    eventMask: [view.getUint32(4, true), view.getUint32(8, true)],
    opcode: view.getUint16(12, true),
  };
}

/** Whether the filter lets an H4 packet (indicator first) through. */
export function hciFilterPasses(filter: HciFilter, packet: Uint8Array): boolean {
  const type = packet[0] ?? 0;
  if (!((filter.typeMask >>> (type & 31)) & 1)) return false;
  if (type !== 0x04) return true;
  const code = (packet[1] ?? 0) & 63;
  if (!((filter.eventMask[code >> 5]! >>> (code & 31)) & 1)) return false;
  if (filter.opcode === 0) return true;
  // Command Complete: ncmd, then the opcode; Command Status: status, ncmd, then the opcode.
  if (packet[1] === 0x0e) return ((packet[4] ?? 0) | ((packet[5] ?? 0) << 8)) === filter.opcode;
  if (packet[1] === 0x0f) return ((packet[5] ?? 0) | ((packet[6] ?? 0) << 8)) === filter.opcode;
  return true;
}

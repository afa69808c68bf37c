import { ProtocolError } from "../errors.js";
import { DEFAULT_ATT_MTU } from "./gatt.js";

/**
 * Chunking of messages larger than one ATT write or notification.
 *
 * Frame = header byte, then (first frame only) the total message length as uint16 big-endian, then payload.
 * Header: bit 7 FIRST, bit 6 LAST, bits 0–5 a sequence number that starts at 0 and rises by one per frame (mod 64),
 * so a lost or reordered frame is detected instead of silently corrupting a message.
 */
const FIRST = 0x80;
const LAST = 0x40;
const SEQ_MASK = 0x3f;
const ATT_HEADER = 3;

export const MAX_BLE_MESSAGE_BYTES = 4096;

export function chunkMessage(message: Uint8Array, mtu: number = DEFAULT_ATT_MTU): Uint8Array[] {
  if (!Number.isInteger(mtu) || mtu < DEFAULT_ATT_MTU || mtu > 517)
    throw new RangeError(`ATT MTU ${mtu} is outside 23..517`);
  if (message.length === 0 || message.length > MAX_BLE_MESSAGE_BYTES) {
    throw new RangeError(`message of ${message.length} bytes cannot be framed (1..${MAX_BLE_MESSAGE_BYTES})`);
  }
  const room = mtu - ATT_HEADER;
  const frames: Uint8Array[] = [];
  let offset = 0;
  let seq = 0;
  while (offset < message.length) {
    const first = offset === 0;
    const header = first ? 3 : 1;
    const take = Math.min(room - header, message.length - offset);
    const frame = new Uint8Array(header + take);
    const last = offset + take === message.length;
    frame[0] = (first ? FIRST : 0) | (last ? LAST : 0) | (seq & SEQ_MASK);
    if (first) {
      frame[1] = message.length >> 8;
      frame[2] = message.length & 0xff;
    }
    frame.set(message.subarray(offset, offset + take), header);
    frames.push(frame);
    offset += take;
    seq++;
  }
  return frames;
}

/**
 * Reassembles frames into messages. On any violation (frame out of sequence, continuation without a start,
 * more bytes than announced, message over the limit) it drops the partial message and throws, so the next FIRST
 * frame starts clean. Callers also call `reset()` on disconnect or timeout.
 */
export class FrameAssembler {
  private buffer: Uint8Array | null = null;
  private filled = 0;
  private nextSeq = 0;

  constructor(private readonly maxBytes: number = MAX_BLE_MESSAGE_BYTES) {}

  reset(): void {
    this.buffer = null;
    this.filled = 0;
    this.nextSeq = 0;
  }

  get inProgress(): boolean {
    return this.buffer !== null;
  }

  /** Adds one frame; returns the whole message when this frame completes one, else null. */
  push(frame: Uint8Array): Uint8Array | null {
    try {
      return this.accept(frame);
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  private accept(frame: Uint8Array): Uint8Array | null {
    if (frame.length < 2) throw new ProtocolError("malformed", "frame too short");
    const header = frame[0]!;
    const seq = header & SEQ_MASK;
    let payload: Uint8Array;
    if (header & FIRST) {
      if (frame.length < 4) throw new ProtocolError("malformed", "first frame too short");
      if (seq !== 0) throw new ProtocolError("malformed", "first frame must have sequence 0");
      const total = (frame[1]! << 8) | frame[2]!;
      if (total === 0) throw new ProtocolError("malformed", "empty message");
      if (total > this.maxBytes)
        throw new ProtocolError("too_large", `message of ${total} bytes is over ${this.maxBytes}`);
      this.buffer = new Uint8Array(total);
      this.filled = 0;
      this.nextSeq = 0;
      payload = frame.subarray(3);
    } else {
      if (this.buffer === null) throw new ProtocolError("malformed", "continuation frame without a first frame");
      if (seq !== this.nextSeq)
        throw new ProtocolError("malformed", `frame ${seq} out of sequence, expected ${this.nextSeq}`);
      payload = frame.subarray(1);
    }
    const buffer = this.buffer!;
    if (this.filled + payload.length > buffer.length)
      throw new ProtocolError("malformed", "more bytes than the message length");
    buffer.set(payload, this.filled);
    this.filled += payload.length;
    this.nextSeq = (seq + 1) & SEQ_MASK;
    const complete = this.filled === buffer.length;
    if (Boolean(header & LAST) !== complete)
      throw new ProtocolError("malformed", "LAST flag does not match the message length");
    if (!complete) return null;
    this.reset();
    return buffer;
  }
}

import { align4, readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';
import { DecodeError } from './errors.js';

export interface Attribute {
  /** nla_type with the NESTED and NET_BYTEORDER flag bits masked off. */
  type: number;
  /** The payload without header or padding (a view, not a copy). */
  payload: Buffer;
}

/** Bytes an attribute with a payload of `payloadLength` bytes takes, padding included. */
export function attributeSpace(payloadLength: number): number {
  return align4(NLA_HDRLEN + payloadLength);
}

/**
 * The header of an attribute at `at` in `out`, for encoders that write the payload in place;
 * returns where the payload starts. Its padding is whatever `out` holds there (zeros).
 */
export function writeAttributeHeader(out: Buffer, at: number, type: number, payloadLength: number): number {
  writeU16(out, NLA_HDRLEN + payloadLength, at);
  writeU16(out, type, at + 2);
  return at + NLA_HDRLEN;
}

/** An attribute an encoder will write in place: its type, payload length and payload writer. */
export interface AttributeWriter {
  type: number;
  length: number;
  /** Writes the payload at `at`; the bytes are zero before it runs. */
  write: (out: Buffer, at: number) => void;
}

/**
 * A message body: a fixed part of `fixedSize` bytes (written by `writeFixed`), then the
 * attributes, each padded to 4 bytes, in one zeroed buffer of its own (Buffer.alloc, never
 * the shared pool: bodies may hold keys their owner will zero).
 */
export function encodeBody(fixedSize: number, writeFixed: (out: Buffer) => void, attributes: readonly AttributeWriter[]): Buffer {
  let size = fixedSize;
  for (const attribute of attributes) size += attributeSpace(attribute.length);
  const out = Buffer.alloc(size);
  writeFixed(out);
  let at = fixedSize;
  for (const attribute of attributes) {
    attribute.write(out, writeAttributeHeader(out, at, attribute.type, attribute.length));
    at += attributeSpace(attribute.length);
  }
  return out;
}

/** A u32 attribute (host order) for encodeBody. */
export function u32Attribute(type: number, value: number): AttributeWriter {
  return { type, length: 4, write: (out, at) => writeU32(out, value, at) };
}

/** A u8 attribute for encodeBody. */
export function u8Attribute(type: number, value: number): AttributeWriter {
  return { type, length: 1, write: (out, at) => void (out[at] = value) };
}

/** One attribute, padded to 4 bytes. */
export function encodeAttribute(type: number, payload: Buffer): Buffer {
  const out = Buffer.alloc(attributeSpace(payload.length));
  payload.copy(out, writeAttributeHeader(out, 0, type, payload.length));
  return out;
}

export function encodeU8Attribute(type: number, value: number): Buffer {
  return encodeAttribute(type, Buffer.from([value]));
}

/**
 * Visit a run of attributes in order. Every length is checked against what is left; trailing
 * bytes too short for an attribute header are an error (the kernel never sends them). Hot
 * decoders use this directly: it builds no array and no attribute objects.
 */
export function forEachAttribute(buf: Buffer, start: number, visit: (type: number, payload: Buffer) => void): void {
  let offset = start;
  while (offset < buf.length) {
    const remaining = buf.length - offset;
    if (remaining < NLA_HDRLEN) {
      throw new DecodeError(`truncated attribute header: ${remaining} bytes left at offset ${offset}`);
    }
    const length = readU16(buf, offset);
    if (length < NLA_HDRLEN) {
      throw new DecodeError(`attribute length ${length} at offset ${offset} is shorter than its header`);
    }
    if (length > remaining) {
      throw new DecodeError(`attribute length ${length} at offset ${offset} exceeds the ${remaining} bytes left`);
    }
    visit(readU16(buf, offset + 2) & NLA_TYPE_MASK, buf.subarray(offset + NLA_HDRLEN, offset + length));
    // The last attribute's padding may be missing: the message length excludes it.
    offset += Math.min(align4(length), remaining);
  }
}

/** All attributes of a run, as a list (see forEachAttribute for the checks). */
export function parseAttributes(buf: Buffer, start = 0): Attribute[] {
  const attributes: Attribute[] = [];
  forEachAttribute(buf, start, (type, payload) => attributes.push({ type, payload }));
  return attributes;
}

export function payloadU32(payload: Buffer, name: string): number {
  if (payload.length < 4) throw new DecodeError(`${name}: payload of ${payload.length} bytes, expected 4`);
  return readU32(payload, 0);
}

export function payloadU8(payload: Buffer, name: string): number {
  if (payload.length < 1) throw new DecodeError(`${name}: empty payload, expected 1 byte`);
  return payload[0]!;
}

/** A NUL-terminated string attribute (the terminator may be missing in malformed input). */
export function attributeString(attribute: Attribute): string {
  const nul = attribute.payload.indexOf(0);
  return attribute.payload.toString('utf8', 0, nul === -1 ? attribute.payload.length : nul);
}

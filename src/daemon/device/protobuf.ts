/**
 * The protobuf wire format (protobuf.dev/programming-guides/encoding), as much of it as the PodResources API
 * needs: varints, length-delimited fields (strings, bytes, messages, packed repeated scalars), and skipping
 * the fixed-width types. Messages are read field by field, so fields a newer kubelet adds are skipped.
 */

export enum WireType {
  Varint = 0,
  I64 = 1,
  Len = 2,
  /** Groups (3, 4) are deprecated and never appear in proto3: reading one is an error. */
  I32 = 5,
}

export class ProtobufError extends Error {
  override name = 'ProtobufError';
}

export type ProtoField =
  | { field: number; wire: WireType.Varint; value: bigint }
  | { field: number; wire: WireType.Len; value: Uint8Array }
  | { field: number; wire: WireType.I64 | WireType.I32; value: Uint8Array };

const MAX_VARINT_BYTES = 10;

/** A varint at `offset`: its value (unsigned, 64 bits) and the offset after it. */
export function readVarint(buf: Uint8Array, offset: number): [bigint, number] {
  let value = 0n;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    if (offset + i >= buf.length) throw new ProtobufError(`truncated varint at byte ${offset}`);
    const b = buf[offset + i]!;
    value |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [BigInt.asUintN(64, value), offset + i + 1];
  }
  throw new ProtobufError(`varint longer than ${MAX_VARINT_BYTES} bytes at byte ${offset}`);
}

/** The fields of one message, in wire order (a repeated field appears once per element). */
export function* readFields(buf: Uint8Array): Generator<ProtoField> {
  let at = 0;
  while (at < buf.length) {
    const start = at;
    const [key, afterKey] = readVarint(buf, at);
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (field < 1 || field > 0x1fffffff)
      throw new ProtobufError(`invalid field number ${field} at byte ${start}`);
    at = afterKey;
    switch (wire) {
      case WireType.Varint: {
        const [value, next] = readVarint(buf, at);
        at = next;
        yield { field, wire, value };
        break;
      }
      case WireType.Len: {
        const [len, next] = readVarint(buf, at);
        const end = next + Number(len);
        if (len > BigInt(buf.length) || end > buf.length)
          throw new ProtobufError(`field ${field} at byte ${start}: length ${len} runs past the message end`);
        at = end;
        yield { field, wire, value: buf.subarray(next, end) };
        break;
      }
      case WireType.I64:
      case WireType.I32: {
        const size = wire === WireType.I64 ? 8 : 4;
        if (at + size > buf.length) throw new ProtobufError(`field ${field} at byte ${start}: truncated`);
        yield { field, wire, value: buf.subarray(at, at + size) };
        at += size;
        break;
      }
      default:
        throw new ProtobufError(`field ${field} at byte ${start}: unsupported wire type ${wire}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Encoder = new TextEncoder();

/** A proto3 `string` (must be valid UTF-8). */
export function decodeString(f: ProtoField): string {
  if (f.wire !== WireType.Len)
    throw new ProtobufError(`field ${f.field}: expected a string, got wire type ${f.wire}`);
  try {
    return utf8.decode(f.value);
  } catch {
    throw new ProtobufError(`field ${f.field}: string is not valid UTF-8`);
  }
}

/** An embedded message's bytes. */
export function decodeMessage(f: ProtoField): Uint8Array {
  if (f.wire !== WireType.Len)
    throw new ProtobufError(`field ${f.field}: expected a message, got wire type ${f.wire}`);
  return f.value;
}

/** The elements of a repeated `int64` field: packed (proto3's default) or one varint per element. */
export function decodeInt64s(f: ProtoField): bigint[] {
  if (f.wire === WireType.Varint) return [BigInt.asIntN(64, f.value)];
  if (f.wire !== WireType.Len)
    throw new ProtobufError(`field ${f.field}: expected int64, got wire type ${f.wire}`);
  const out: bigint[] = [];
  let at = 0;
  while (at < f.value.length) {
    const [v, next] = readVarint(f.value, at);
    out.push(BigInt.asIntN(64, v));
    at = next;
  }
  return out;
}

/** Builds one message. Default values (0, '') are written only when asked: proto3 omits them. */
export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.chunks.push(b);
    this.size += b.length;
    return this;
  }

  private rawVarint(v: bigint): this {
    let n = BigInt.asUintN(64, v);
    const out: number[] = [];
    do {
      const b = Number(n & 0x7fn);
      n >>= 7n;
      out.push(n > 0n ? b | 0x80 : b);
    } while (n > 0n);
    return this.push(Uint8Array.from(out));
  }

  private key(field: number, wire: WireType): this {
    return this.rawVarint((BigInt(field) << 3n) | BigInt(wire));
  }

  /** An int64/uint64/int32/bool field (negative numbers take ten bytes, as in protobuf). */
  varint(field: number, value: number | bigint): this {
    return this.key(field, WireType.Varint).rawVarint(BigInt(value));
  }

  bytes(field: number, value: Uint8Array): this {
    return this.key(field, WireType.Len).rawVarint(BigInt(value.length)).push(value);
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8Encoder.encode(value));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  /** A packed repeated int64 field (nothing when empty). */
  packedInt64(field: number, values: readonly (number | bigint)[]): this {
    if (values.length === 0) return this;
    const inner = new ProtoWriter();
    for (const v of values) inner.rawVarint(BigInt(v));
    return this.bytes(field, inner.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

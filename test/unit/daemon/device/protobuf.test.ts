import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeGetResponse,
  decodeListResponse,
  encodeGetRequest,
  encodePodResources,
  type PodResources,
} from '../../../../src/daemon/device/podresources.ts';
import {
  decodeInt64s,
  decodeString,
  ProtobufError,
  ProtoWriter,
  readFields,
  readVarint,
  WireType,
} from '../../../../src/daemon/device/protobuf.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replaceAll(' ', ''), 'hex'));

describe('protobuf wire format', () => {
  it('encodes the examples of the encoding guide', () => {
    // protobuf.dev/programming-guides/encoding: `a: 150` and `b: "testing"`.
    assert.equal(hex(new ProtoWriter().varint(1, 150).finish()), '089601');
    assert.equal(hex(new ProtoWriter().string(2, 'testing').finish()), '120774657374696e67');
    // Packed repeated int32 [1, 2, 3] in field 6 ... here int64, same bytes.
    assert.equal(hex(new ProtoWriter().packedInt64(6, [3, 270, 86942]).finish()), '3206038e029ea705');
  });

  it('reads them back', () => {
    const [a] = readFields(bytes('089601'));
    assert.deepEqual(a, { field: 1, wire: WireType.Varint, value: 150n });
    const [b] = readFields(bytes('120774657374696e67'));
    assert.equal(decodeString(b!), 'testing');
    const [c] = readFields(bytes('3206038e029ea705'));
    assert.deepEqual(decodeInt64s(c!), [3n, 270n, 86942n]);
  });

  it('reads negative int64 as ten-byte varints, packed or not', () => {
    const w = new ProtoWriter().varint(1, -1).packedInt64(2, [-1, 5]).finish();
    const [a, b] = [...readFields(w)];
    assert.deepEqual(decodeInt64s(a!), [-1n]);
    assert.deepEqual(decodeInt64s(b!), [-1n, 5n]);
  });

  it('skips fixed-width fields it does not know', () => {
    // field 3 fixed64, field 4 fixed32, then field 1 string "x".
    const buf = bytes('19 0102030405060708 25 01020304 0a 01 78');
    const fields = [...readFields(buf)];
    assert.deepEqual(
      fields.map((f) => [f.field, f.wire]),
      [
        [3, WireType.I64],
        [4, WireType.I32],
        [1, WireType.Len],
      ],
    );
    assert.equal(decodeString(fields[2]!), 'x');
  });

  it('rejects truncated and malformed input with a ProtobufError', () => {
    for (const h of ['08', '0a05787878', '19010203', '0b', '00', 'ffffffffffffffffffff01']) {
      assert.throws(() => [...readFields(bytes(h))], ProtobufError, h);
    }
    assert.throws(() => decodeString([...readFields(bytes('0a02c328'))][0]!), /UTF-8/);
  });

  it('round-trips any varint', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (v) => {
        const buf = new ProtoWriter().varint(1, v).finish();
        const [n, end] = readVarint(buf, 1);
        return n === v && end === buf.length;
      }),
    );
  });

  it('never throws anything but a ProtobufError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        try {
          decodeListResponse(b);
        } catch (err) {
          if (!(err instanceof ProtobufError)) throw err;
        }
      }),
    );
  });
});

describe('PodResources messages', () => {
  const pod: PodResources = {
    name: 'p1',
    namespace: 'ns1',
    containers: [
      {
        name: 'app',
        devices: [
          { resourceName: 'intel.com/sriov_a', deviceIds: ['0000:03:02.1', '0000:03:02.2'], numaNodes: [0] },
          { resourceName: 'intel.com/sriov_b', deviceIds: ['0000:81:00.3'], numaNodes: [1, 3] },
        ],
      },
      { name: 'sidecar', devices: [] },
    ],
  };

  it('round-trips a List response', () => {
    const list = new ProtoWriter()
      .message(1, encodePodResources(pod))
      .message(1, encodePodResources(pod))
      .finish();
    assert.deepEqual(decodeListResponse(list), [pod, pod]);
  });

  it('reads a Get response, and none in an empty one', () => {
    assert.deepEqual(decodeGetResponse(new ProtoWriter().message(1, encodePodResources(pod)).finish()), pod);
    assert.equal(decodeGetResponse(new Uint8Array()), undefined);
  });

  it('skips the fields it does not read (cpu_ids, memory, dynamic_resources, future ones)', () => {
    const container = new ProtoWriter()
      .string(1, 'app')
      .packedInt64(3, [0, 1, 2])
      .message(4, new ProtoWriter().string(1, 'memory').varint(2, 1 << 30))
      .message(5, new ProtoWriter().string(2, 'claim'))
      .message(2, new ProtoWriter().string(1, 'r').string(2, 'd0'))
      .varint(99, 7);
    const p = new ProtoWriter().string(1, 'p').string(2, 'ns').message(3, container).string(42, 'future');
    assert.deepEqual(decodeGetResponse(new ProtoWriter().message(1, p).finish()), {
      name: 'p',
      namespace: 'ns',
      containers: [{ name: 'app', devices: [{ resourceName: 'r', deviceIds: ['d0'], numaNodes: [] }] }],
    });
  });

  it('reads an empty NUMANode as node 0 (proto3 leaves out zero)', () => {
    const d = new ProtoWriter()
      .string(1, 'r')
      .message(3, new ProtoWriter().message(1, new ProtoWriter()).message(1, new ProtoWriter().varint(1, 2)));
    const c = new ProtoWriter().string(1, 'c').message(2, d);
    const p = new ProtoWriter().string(1, 'p').message(3, c);
    assert.deepEqual(
      decodeGetResponse(new ProtoWriter().message(1, p).finish())?.containers[0]?.devices[0]?.numaNodes,
      [0, 2],
    );
  });

  it('encodes a Get request as pod_name = 1, pod_namespace = 2', () => {
    assert.equal(hex(encodeGetRequest('ns', 'p')), '0a017012026e73');
  });
});

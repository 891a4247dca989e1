/**
 * A minimal protocol-buffers writer: just the wire types ONNX files need.
 *
 * Wire format (protobuf encoding spec): each field is a key varint `(fieldNumber << 3) | wireType`
 * followed by its value. Wire type 0 is a varint (int32, int64, enums), 2 is length-delimited
 * (strings, bytes, nested messages, packed repeated scalars), 5 is a little-endian 32-bit float.
 * A nested message is encoded on its own, then written as bytes; so a message is a list of
 * already-encoded chunks, concatenated once at the end.
 */

const VARINT = 0;
const LENGTH_DELIMITED = 2;
const FIXED32 = 5;

const utf8 = new TextEncoder();

export class ProtoWriter {
  private readonly chunks: Uint8Array[] = [];
  private length = 0;

  /** An int32/int64/enum/bool field. Negative values take ten bytes (two's complement int64). */
  int(field: number, value: number): this {
    this.key(field, VARINT);
    this.varint(value);
    return this;
  }

  /** A string field (UTF-8). */
  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  /** A bytes field. */
  bytes(field: number, value: Uint8Array): this {
    this.key(field, LENGTH_DELIMITED);
    this.varint(value.length);
    this.push(value);
    return this;
  }

  /** A nested message field. */
  message(field: number, value: ProtoWriter): this {
    return this.bytes(field, value.finish());
  }

  /** A float field (fixed 32 bits, little-endian). */
  float(field: number, value: number): this {
    this.key(field, FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, value, true);
    this.push(b);
    return this;
  }

  /**
   * A repeated int64 field, one key per value. NOTE: onnx.proto is proto2, where repeated scalars
   * are unpacked unless declared `[packed = true]`; parsers accept both, but unpacked is what
   * the schema says.
   */
  repeatedInts(field: number, values: readonly number[]): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  /** The encoded message. */
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }

  private key(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  /** Base-128 varint, least significant group first; the high bit says "more bytes follow". */
  private varint(value: number): void {
    if (!Number.isSafeInteger(value)) throw new RangeError(`protobuf varint: ${value} is not a safe integer`);
    // NOTE: negative int64 values are their 64-bit two's complement, hence BigInt.
    let v = value >= 0 ? BigInt(value) : (1n << 64n) + BigInt(value);
    const bytes: number[] = [];
    while (v >= 0x80n) {
      bytes.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    bytes.push(Number(v));
    this.push(Uint8Array.from(bytes));
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }
}

/**
 * WasmMemory: the WebAssembly memory every wasm kernel works in, and a small allocator over it.
 *
 * Layout (byte offsets):
 *   0 … 64 KiB    reserved: thread-pool control words, per-thread kernel arguments, error text
 *   64 KiB …      heap: parameter, gradient, optimiser and activation buffers, packing scratch
 *
 * Blocks are 64-byte aligned (a cache line; also what v128 loads like). `allocate` hands out a
 * Float32Array view of a block; when that view is garbage-collected, a FinalizationRegistry
 * returns the block to the free list, so users never dispose anything by hand.
 *
 * NOTE: with shared memory, growing keeps every existing view valid (a SharedArrayBuffer never
 * detaches). Unshared memory detaches all views on growth, so in that mode `allocate` returns
 * plain arrays and the backend copies operands into a staging area for each call instead.
 */
import { NablaError } from '../../errors.ts';

export const PAGE_BYTES = 65536;
export const HEAP_START = 65536;
const ALIGN = 64;

export interface Block {
  ptr: number;
  bytes: number;
}

export class WasmMemory {
  readonly memory: WebAssembly.Memory;
  readonly shared: boolean;
  private top = HEAP_START;
  private free: Block[] = [];
  // Every buffer object our views were made on. NOTE: `memory.buffer` is not one stable object:
  // growth replaces it, and V8 may hand out a fresh wrapper for a shared memory at other times
  // too. So each view's own buffer is recorded when the view is made; the view keeps it alive.
  private readonly buffers = new WeakSet<ArrayBufferLike>();
  private readonly registry = new FinalizationRegistry<Block>((block) => this.release(block));

  constructor(shared: boolean, maxMiB: number) {
    const maximum = Math.floor((maxMiB * 1024 * 1024) / PAGE_BYTES);
    this.shared = shared;
    this.memory = new WebAssembly.Memory({ initial: 16, maximum, shared });
  }

  /** The current buffer (after any growth). */
  get buffer(): ArrayBufferLike {
    return this.memory.buffer;
  }

  /** Byte offset of an array that lives in this memory, or −1 for any other array. */
  pointerOf(arr: ArrayBufferView): number {
    return this.buffers.has(arr.buffer) || arr.buffer === this.memory.buffer ? arr.byteOffset : -1;
  }

  /** Reserve `bytes` (rounded up to 64) and return the block's byte offset. */
  reserve(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.bytes < size) continue;
      if (b.bytes === size) this.free.splice(i, 1);
      else this.free[i] = { ptr: b.ptr + size, bytes: b.bytes - size };
      return b.ptr;
    }
    const ptr = this.top;
    this.ensure(ptr + size);
    this.top = ptr + size;
    return ptr;
  }

  /**
   * A block of at least `bytes`: `block` itself when it is large enough, else a new one (the old
   * one given back). Keeps a grow-only scratch area (staging, partial sums) between calls.
   */
  regrow(block: Block, bytes: number): Block {
    if (block.bytes >= bytes) return block;
    if (block.bytes > 0) this.release(block);
    return { ptr: this.reserve(bytes), bytes };
  }

  /** Give a block back (adjacent free blocks are merged so large buffers can be reused). */
  release(block: Block): void {
    const size = Math.max(ALIGN, Math.ceil(block.bytes / ALIGN) * ALIGN);
    const list = this.free;
    let i = 0;
    while (i < list.length && list[i].ptr < block.ptr) i++;
    list.splice(i, 0, { ptr: block.ptr, bytes: size });
    if (i + 1 < list.length && list[i].ptr + list[i].bytes === list[i + 1].ptr) {
      list[i].bytes += list[i + 1].bytes;
      list.splice(i + 1, 1);
    }
    if (i > 0 && list[i - 1].ptr + list[i - 1].bytes === list[i].ptr) {
      list[i - 1].bytes += list[i].bytes;
      list.splice(i, 1);
    }
  }

  /** A zeroed Float32Array living in this memory, freed automatically once unreachable. */
  allocate(length: number): Float32Array {
    const bytes = length * 4;
    const ptr = this.reserve(bytes);
    const view = new Float32Array(this.memory.buffer, ptr, length);
    this.buffers.add(view.buffer);
    view.fill(0);
    this.registry.register(view, { ptr, bytes });
    return view;
  }

  /** Grow the memory so that [0, end) is addressable. */
  ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / PAGE_BYTES);
    try {
      this.memory.grow(pages);
    } catch {
      throw new NablaError({
        where: 'wasm backend',
        expected: `room for ${Math.ceil(end / 2 ** 20)} MiB of WebAssembly memory`,
        found: `a limit of ${Math.floor(have / 2 ** 20)} MiB that cannot grow further`,
        hint: 'use smaller batches or layers, or the js backend (--backend js)',
      });
    }
  }
}

/**
 * The same module importing an unshared memory: a copy of `bytes` (a module that imports a shared
 * memory) with the shared bit of that import's limits cleared. The kernels use no atomics, so the
 * two builds differ in that one byte; deriving one from the other ships half the base64.
 *
 * @example
 * const single = withUnsharedMemory(sharedBuild); // for a page that is not cross-origin isolated
 */
export function withUnsharedMemory(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = bytes.slice();
  let at = 8; // magic and version
  const leb = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = out[at++];
      value += (byte & 127) * 2 ** shift;
      if (byte < 128) return value;
    }
  };
  const skipName = (): void => {
    const length = leb();
    at += length;
  };
  while (at < out.length) {
    const id = out[at++];
    const size = leb();
    if (id !== 2) {
      at += size;
      continue;
    }
    // The import section: module name, field name, kind, then the kind's description.
    for (let count = leb(); count > 0; count--) {
      skipName();
      skipName();
      const kind = out[at++];
      if (kind === 2) {
        // Memory limits flags: bit 0 a maximum follows, bit 1 shared.
        if ((out[at] & 2) === 0) break;
        out[at] &= ~2;
        return out;
      }
      if (kind === 0) leb();
      else if (kind === 1) {
        at++; // element type
        const flags = out[at++];
        leb();
        if (flags & 1) leb();
      }
      else if (kind === 3) at += 2;
      else break;
    }
    break;
  }
  throw new NablaError({
    where: 'wasm backend',
    expected: 'a kernel module that imports a shared memory',
    found: 'no shared memory import',
    hint: 'rebuild the kernels with npm run build:wasm',
  });
}

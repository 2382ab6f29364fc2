/**
 * A small typed WebAssembly binary encoder: just what the wasm backend's kernels
 * need — one imported memory, function types, functions with typed locals, exports,
 * and the i32 / f32 / v128 (SIMD128) instructions the kernels use, each a method
 * that appends its opcode and immediates. LEB128 and the section layout follow the
 * WebAssembly core spec (binary format, §5); SIMD opcodes follow the SIMD proposal
 * (prefix 0xfd, LEB128 u32 sub-opcode).
 *
 * Kiln emits its modules itself rather than through an assembler package: the
 * kernels are generated from plan facts and expression trees at compile time, in
 * the page or in Node, so a text-format assembler (wabt.js, binaryen.js: multi-MB
 * wasm builds) would be a large runtime dependency for ~40 opcodes, and a typed
 * builder lets the kernels' TypeScript type-check what they emit. The engine
 * validates every module (WebAssembly.validate) before it is instantiated.
 */

/** A value type of the functions Kiln emits. */
export type ValType = 'i32' | 'f32' | 'v128';

const VALTYPE: Readonly<Record<ValType, number>> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Appends `v` as unsigned LEB128. */
export function uleb(out: number[], v: number): void {
  let x = v >>> 0;
  do {
    let b = x & 0x7f;
    x >>>= 7;
    if (x !== 0) b |= 0x80;
    out.push(b);
  } while (x !== 0);
}

/** Appends `v` (a 32-bit signed integer) as signed LEB128. */
export function sleb(out: number[], v: number): void {
  let x = v | 0;
  for (;;) {
    const b = x & 0x7f;
    x >>= 7;
    if ((x === 0 && (b & 0x40) === 0) || (x === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

/** Appends a UTF-8 name with its length. */
function name(out: number[], s: string): void {
  const bytes = new TextEncoder().encode(s);
  uleb(out, bytes.length);
  out.push(...bytes);
}

const f32buf = new DataView(new ArrayBuffer(4));

/** SIMD sub-opcodes (prefix 0xfd) of the instructions Kiln emits. */
const SIMD = {
  'v128.load': 0x00, 'v128.load32_splat': 0x09, 'v128.store': 0x0b, 'v128.const': 0x0c,
  'i32x4.splat': 0x11, 'f32x4.splat': 0x13, 'f32x4.extract_lane': 0x1f,
  'f32x4.eq': 0x41, 'f32x4.ne': 0x42, 'f32x4.lt': 0x43, 'f32x4.gt': 0x44, 'f32x4.le': 0x45, 'f32x4.ge': 0x46,
  'v128.not': 0x4d, 'v128.and': 0x4e, 'v128.andnot': 0x4f, 'v128.or': 0x50, 'v128.xor': 0x51, 'v128.bitselect': 0x52,
  'f32x4.ceil': 0x67, 'f32x4.floor': 0x68, 'f32x4.trunc': 0x69, 'f32x4.nearest': 0x6a,
  'i32x4.shl': 0xab, 'i32x4.add': 0xae, 'i32x4.sub': 0xb1,
  'f32x4.abs': 0xe0, 'f32x4.neg': 0xe1, 'f32x4.sqrt': 0xe3, 'f32x4.add': 0xe4, 'f32x4.sub': 0xe5,
  'f32x4.mul': 0xe6, 'f32x4.div': 0xe7, 'f32x4.min': 0xe8, 'f32x4.max': 0xe9,
  'i32x4.trunc_sat_f32x4_s': 0xf8, 'f32x4.convert_i32x4_s': 0xfa,
} as const;

/** A SIMD instruction without immediates (all but loads, stores, constants and lanes). */
export type SimdOp = Exclude<keyof typeof SIMD, 'v128.load' | 'v128.load32_splat' | 'v128.store' | 'v128.const' | 'f32x4.extract_lane'>;

/** Plain (non-prefixed) opcodes without immediates. */
const PLAIN = {
  'i32.eqz': 0x45, 'i32.eq': 0x46, 'i32.ne': 0x47, 'i32.lt_s': 0x48, 'i32.lt_u': 0x49, 'i32.gt_s': 0x4a,
  'i32.le_s': 0x4c, 'i32.ge_s': 0x4e, 'i32.add': 0x6a, 'i32.sub': 0x6b, 'i32.mul': 0x6c, 'i32.shl': 0x74,
  'f32.add': 0x92, 'f32.sub': 0x93, 'f32.mul': 0x94, 'f32.div': 0x95,
  drop: 0x1a, select: 0x1b, return: 0x0f,
} as const;

/** A plain instruction without immediates. */
export type PlainOp = keyof typeof PLAIN;

/**
 * One function's body under construction: typed locals (parameters first) and the
 * instruction bytes. Structured control (`block`, `loop`, `if`) nests through
 * callbacks so every `end` is emitted by construction.
 */
export class FnBuilder {
  private readonly locals: ValType[] = [];
  private readonly code: number[] = [];
  private depth = 0;

  constructor(readonly params: readonly ValType[], readonly results: readonly ValType[]) {}

  /** A fresh local of type `t`; returns its index. */
  local(t: ValType): number {
    this.locals.push(t);
    return this.params.length + this.locals.length - 1;
  }

  /** Appends one plain instruction. */
  op(o: PlainOp): this { this.code.push(PLAIN[o]); return this; }
  /** Appends one SIMD instruction without immediates. */
  simd(o: SimdOp): this { this.code.push(0xfd); uleb(this.code, SIMD[o]); return this; }
  /** local.get */
  get(i: number): this { this.code.push(0x20); uleb(this.code, i); return this; }
  /** local.set */
  set(i: number): this { this.code.push(0x21); uleb(this.code, i); return this; }
  /** local.tee */
  tee(i: number): this { this.code.push(0x22); uleb(this.code, i); return this; }
  /** i32.const */
  i32(v: number): this { this.code.push(0x41); sleb(this.code, v); return this; }
  /** f32.const */
  f32(v: number): this {
    f32buf.setFloat32(0, v, true);
    this.code.push(0x43, f32buf.getUint8(0), f32buf.getUint8(1), f32buf.getUint8(2), f32buf.getUint8(3));
    return this;
  }
  /** v128.const of four equal f32 lanes. */
  f32x4(v: number): this {
    this.code.push(0xfd);
    uleb(this.code, SIMD['v128.const']);
    f32buf.setFloat32(0, v, true);
    for (let l = 0; l < 4; l++) this.code.push(f32buf.getUint8(0), f32buf.getUint8(1), f32buf.getUint8(2), f32buf.getUint8(3));
    return this;
  }
  private mem(opcode: number, simd: boolean, align: number, offset: number): this {
    if (simd) { this.code.push(0xfd); uleb(this.code, opcode); } else this.code.push(opcode);
    uleb(this.code, align);
    uleb(this.code, offset);
    return this;
  }
  /** i32.load (address on the stack). */
  loadI32(offset = 0): this { return this.mem(0x28, false, 2, offset); }
  /** f32.load */
  loadF32(offset = 0): this { return this.mem(0x2a, false, 2, offset); }
  /** f32.store (address, value on the stack). */
  storeF32(offset = 0): this { return this.mem(0x38, false, 2, offset); }
  /** v128.load */
  loadV(offset = 0): this { return this.mem(SIMD['v128.load'], true, 4, offset); }
  /** v128.load32_splat: one f32 in all four lanes. */
  loadSplat(offset = 0): this { return this.mem(SIMD['v128.load32_splat'], true, 2, offset); }
  /** v128.store */
  storeV(offset = 0): this { return this.mem(SIMD['v128.store'], true, 4, offset); }
  /** i8x16.shuffle: bytes of the two v128 on the stack (0–15 the first, 16–31 the second) picked by `bytes`. */
  shuffle(bytes: readonly number[]): this {
    this.code.push(0xfd);
    uleb(this.code, 0x0d);
    for (let i = 0; i < 16; i++) this.code.push(bytes[i]! & 31);
    return this;
  }
  /** i8x16.shuffle picking f32 lanes (0–3 the first v128, 4–7 the second). */
  shuffleF32(lanes: readonly [number, number, number, number]): this {
    return this.shuffle(lanes.flatMap((l) => [l * 4, l * 4 + 1, l * 4 + 2, l * 4 + 3]));
  }
  /** f32x4.extract_lane */
  lane(l: number): this { this.code.push(0xfd); uleb(this.code, SIMD['f32x4.extract_lane']); this.code.push(l); return this; }

  /** block ... end (void); `body` gets the block's label depth for `br`. */
  block(body: (label: number) => void): this { return this.structured(0x02, body); }
  /** loop ... end (void); a `br` to its label continues the loop. */
  loop(body: (label: number) => void): this { return this.structured(0x03, body); }
  /** if ... end (void), condition on the stack. */
  if(body: () => void): this { return this.structured(0x04, () => body()); }
  private structured(opcode: number, body: (label: number) => void): this {
    this.code.push(opcode, 0x40);
    this.depth++;
    const label = this.depth;
    body(label);
    this.depth--;
    this.code.push(0x0b);
    return this;
  }
  /** br to the construct whose label `body` received. */
  br(label: number): this { this.code.push(0x0c); uleb(this.code, this.depth - label); return this; }
  /** br_if to the construct whose label `body` received. */
  brIf(label: number): this { this.code.push(0x0d); uleb(this.code, this.depth - label); return this; }

  /** `for (i = from; i < limit; i += step)` with i32 locals; `limit` is a local. */
  forRange(i: number, from: number | (() => void), limit: number, step: number, body: () => void): this {
    if (typeof from === 'number') this.i32(from); else from();
    this.set(i);
    return this.block((exit) => {
      this.loop((top) => {
        this.get(i).get(limit).op('i32.ge_s').brIf(exit);
        body();
        this.get(i).i32(step).op('i32.add').set(i);
        this.br(top);
      });
    });
  }

  /** The function's code-section entry (locals and body, with its size). */
  encode(): number[] {
    const body: number[] = [];
    // Locals: runs of equal types.
    const runs: [number, ValType][] = [];
    for (const t of this.locals) {
      const last = runs[runs.length - 1];
      if (last && last[1] === t) last[0]++;
      else runs.push([1, t]);
    }
    uleb(body, runs.length);
    for (const [n, t] of runs) { uleb(body, n); body.push(VALTYPE[t]); }
    body.push(...this.code, 0x0b);
    const out: number[] = [];
    uleb(out, body.length);
    return out.concat(body);
  }
}

/** A module: one imported memory (`env.memory`, plain or shared), functions, each exported under its name. */
export class ModuleBuilder {
  private readonly fns: { readonly name: string; readonly fn: FnBuilder }[] = [];

  /** Adds a function exported as `name`. */
  add(exportName: string, fn: FnBuilder): void {
    this.fns.push({ name: exportName, fn });
  }

  /** Names of the functions added so far. */
  get names(): string[] { return this.fns.map((f) => f.name); }

  /** Which parameters of function `exportName` are f32 (bit k: parameter k). */
  f32Mask(exportName: string): number {
    const f = this.fns.find((x) => x.name === exportName);
    return (f?.fn.params ?? []).reduce((m, t, k) => (t === 'f32' ? m | (1 << k) : m), 0);
  }

  /**
   * The module's bytes. With `sharedPages` the memory import is a shared memory of
   * exactly that many pages (initial = maximum: what threads instantiate it on).
   */
  encode(sharedPages?: number): Uint8Array<ArrayBuffer> {
    const out: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const section = (id: number, content: number[]): void => {
      out.push(id);
      uleb(out, content.length);
      for (const b of content) out.push(b);
    };
    // Types: one per function (duplicates are legal and keep the indices trivial).
    const types: number[] = [];
    uleb(types, this.fns.length);
    for (const { fn } of this.fns) {
      types.push(0x60);
      uleb(types, fn.params.length);
      for (const p of fn.params) types.push(VALTYPE[p]);
      uleb(types, fn.results.length);
      for (const r of fn.results) types.push(VALTYPE[r]);
    }
    section(1, types);
    const imports: number[] = [];
    uleb(imports, 1);
    name(imports, 'env');
    name(imports, 'memory');
    if (sharedPages === undefined) {
      imports.push(0x02, 0x00); // memory, limits without a maximum
      uleb(imports, 1);
    } else {
      imports.push(0x02, 0x03); // memory, shared, limits with a maximum
      uleb(imports, sharedPages);
      uleb(imports, sharedPages);
    }
    section(2, imports);
    const funcs: number[] = [];
    uleb(funcs, this.fns.length);
    this.fns.forEach((_, i) => uleb(funcs, i));
    section(3, funcs);
    const exports: number[] = [];
    uleb(exports, this.fns.length);
    this.fns.forEach((f, i) => { name(exports, f.name); exports.push(0x00); uleb(exports, i); });
    section(7, exports);
    const code: number[] = [];
    uleb(code, this.fns.length);
    for (const { fn } of this.fns) for (const b of fn.encode()) code.push(b);
    section(10, code);
    return new Uint8Array(out);
  }
}

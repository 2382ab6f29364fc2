/**
 * The windowed-pool body: one invocation per output element walks its window
 * (folded to 3 spatial axes). Taps inside the padded input (between -padBegin and
 * in + padEnd; ceil_mode windows may reach past it) call `tap(inside, off)`, where
 * `off` is the tap's offset inside the channel (valid when `inside`).
 */

/** WGSL pieces of one pool. */
export interface PoolBody {
  /** Lines before the walk (declare accumulators). */
  readonly start: string;
  /** Statement run for each tap; `inside` (bool) and `off` (u32) are in scope. */
  readonly tap: string;
  /** Lines after the walk; `chan` (u32 channel index), `cBase` and `o` are in scope. */
  readonly emit: string;
}

/** Uniform expressions of the folded window (i32). */
export interface PoolGeometry {
  readonly inDims: readonly string[];
  readonly outDims: readonly string[];
  readonly kernel: readonly string[];
  readonly strides: readonly string[];
  readonly dilations: readonly string[];
  readonly padBegin: readonly string[];
  readonly padEnd: readonly string[];
}

/** The per-element body (inside ShaderBuilder.linear; `idx` is the output index). */
export function poolBody(idx: string, g: PoolGeometry, body: PoolBody): string {
  const [ID, IH, IW] = g.inDims;
  const [OD, OH, OW] = g.outDims;
  const [KD, KH, KW] = g.kernel;
  const [sd, sh, sw] = g.strides;
  const [dd, dh, dw] = g.dilations;
  const [pd, ph, pw] = g.padBegin;
  const [ed, eh, ew] = g.padEnd;
  return [
    `  let o = ${idx};`,
    `  let ow = i32(o % u32(${OW})); let oh = i32((o / u32(${OW})) % u32(${OH})); let od = i32((o / u32(${OW} * ${OH})) % u32(${OD}));`,
    `  let chan = o / u32(${OW} * ${OH} * ${OD});`,
    `  let cBase = chan * u32(${ID} * ${IH} * ${IW});`,
    body.start,
    `  for (var kd = 0; kd < ${KD}; kd++) {`,
    `    let id = od * ${sd} - ${pd} + kd * ${dd}; if ((id < -${pd}) | (id >= ${ID} + ${ed})) { continue; }`,
    `    for (var kh = 0; kh < ${KH}; kh++) {`,
    `      let ih = oh * ${sh} - ${ph} + kh * ${dh}; if ((ih < -${ph}) | (ih >= ${IH} + ${eh})) { continue; }`,
    `      for (var kw = 0; kw < ${KW}; kw++) {`,
    `        let iw = ow * ${sw} - ${pw} + kw * ${dw}; if ((iw < -${pw}) | (iw >= ${IW} + ${ew})) { continue; }`,
    `        let inside = (u32(id) < u32(${ID})) & (u32(ih) < u32(${IH})) & (u32(iw) < u32(${IW}));`,
    `        let off = u32(select(0, (id * ${IH} + ih) * ${IW} + iw, inside));`,
    `        ${body.tap}`,
    '      }',
    '    }',
    '  }',
    body.emit,
  ].join('\n');
}

/**
 * WGSL templates of the reduction-like kernels (Reduce*, ArgMax, norms, pools'
 * global forms, softmax, cumsum, top-k): one invocation per output element walks the
 * elements it reduces. Arguments are WGSL expressions (uniform reads); the backend
 * (src/backends/webgpu/reduce-nest.ts) allocates the uniforms and picks the runs.
 */

/**
 * WGSL wrapping `body` in one loop per reduced run: run j counts `r<j>` up to
 * `dims[j]` and steps offset `q<j>` by `strides[j]` from the previous run's offset
 * (`base` for the first). `body` reads the element at offset `q`.
 */
export function reduceLoops(dims: readonly string[], strides: readonly string[], body: string): string {
  const n = dims.length;
  let inner = `let q = ${n ? `q${n - 1}` : 'base'};\n${body}`;
  for (let j = n - 1; j >= 0; j--) {
    const from = j === 0 ? 'base' : `q${j - 1}`;
    inner = `for (var r${j} = 0u; r${j} < ${dims[j]}; r${j}++) {\n  let q${j} = ${from} + r${j} * ${strides[j]};\n${inner}\n}`;
  }
  return `{\n${inner}\n}`;
}

/**
 * WGSL lines of a one-invocation-per-row kernel along one axis: from linear row index
 * `idx` (over outer × inner) declare `base` and `step` so that row element k is at
 * `base + k * step` (`n` is the axis length, `inner` the product of the dims after it).
 */
export function axisRowHead(idx: string, n: string, inner: string): string {
  return `  let step = ${inner};\n  let base = (${idx} / step) * ${n} * step + ${idx} % step;`;
}

/**
 * The CPU matrix-multiply kernel behind MatMul, Gemm, Conv (im2col) and
 * ConvTranspose (col2im). Row-major operands; `c += a · b` with i-k-j order,
 * four rows of `a` per pass (each loaded row of `b` feeds four accumulating
 * rows of `c`) and columns in blocks that keep those rows in cache.
 */

/** A float array the kernel runs on. */
export type FloatArray = Float32Array | Float64Array;

const COL_BLOCK = 512;

/**
 * Accumulates `c[cOff + i*n + j] += sum_p a[aOff + i*k + p] * b[bOff + p*n + j]`
 * for an `m×k` times `k×n` product.
 */
export function matmulAcc(
  m: number, n: number, k: number,
  a: FloatArray, aOff: number,
  b: FloatArray, bOff: number,
  c: FloatArray, cOff: number,
): void {
  for (let j0 = 0; j0 < n; j0 += COL_BLOCK) {
    const j1 = Math.min(n, j0 + COL_BLOCK);
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const c0 = cOff + i * n;
      const c1 = c0 + n;
      const c2 = c1 + n;
      const c3 = c2 + n;
      const a0 = aOff + i * k;
      const a1 = a0 + k;
      const a2 = a1 + k;
      const a3 = a2 + k;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p]!;
        const x1 = a[a1 + p]!;
        const x2 = a[a2 + p]!;
        const x3 = a[a3 + p]!;
        const bo = bOff + p * n;
        for (let j = j0; j < j1; j++) {
          const bv = b[bo + j]!;
          c[c0 + j] = c[c0 + j]! + x0 * bv;
          c[c1 + j] = c[c1 + j]! + x1 * bv;
          c[c2 + j] = c[c2 + j]! + x2 * bv;
          c[c3 + j] = c[c3 + j]! + x3 * bv;
        }
      }
    }
    for (; i < m; i++) {
      const c0 = cOff + i * n;
      const a0 = aOff + i * k;
      for (let p = 0; p < k; p++) {
        const x0 = a[a0 + p]!;
        if (x0 === 0) continue;
        const bo = bOff + p * n;
        for (let j = j0; j < j1; j++) c[c0 + j] = c[c0 + j]! + x0 * b[bo + j]!;
      }
    }
  }
}

/** Transposes a row-major `rows×cols` matrix at `off` into a new array of the same class. */
export function transpose2d(x: FloatArray, off: number, rows: number, cols: number): FloatArray {
  const t = new (x.constructor as { new (n: number): FloatArray })(rows * cols);
  for (let r = 0; r < rows; r++) {
    const base = off + r * cols;
    for (let c = 0; c < cols; c++) t[c * rows + r] = x[base + c]!;
  }
  return t;
}

/**
 * The CPU matrix-multiply kernel behind MatMul, Gemm, Conv (im2col) and
 * ConvTranspose (col2im). Row-major operands, `c += a · b`: small or skinny
 * products use a plain i-k-j loop; others pack both operands into 4-wide panels
 * and accumulate 4×4 tiles of `c` in registers (see packedAcc).
 */

/** A float array the kernel runs on. */
export type FloatArray = Float32Array | Float64Array;

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
  if (m < 4 || n < 4 || m * n * k < 32768) simpleAcc(m, n, k, a, aOff, b, bOff, c, cOff);
  else packedAcc(m, n, k, a, aOff, b, bOff, c, cOff);
}

/** i-k-j loop for small or skinny products. */
function simpleAcc(m: number, n: number, k: number, a: FloatArray, aOff: number, b: FloatArray, bOff: number, c: FloatArray, cOff: number): void {
  for (let i = 0; i < m; i++) {
    const c0 = cOff + i * n;
    const a0 = aOff + i * k;
    for (let p = 0; p < k; p++) {
      const x = a[a0 + p]!;
      if (x === 0) continue;
      const bo = bOff + p * n;
      for (let j = 0; j < n; j++) c[c0 + j] = c[c0 + j]! + x * b[bo + j]!;
    }
  }
}

const KC = 256;
const JC = 128;

/**
 * Packed product: A in panels of 4 rows and B in panels of 4 columns, each panel
 * laid out p-major so a 4×4 tile of C accumulates in sixteen locals over a K block
 * (eight loads per sixteen multiply-adds). Loops block N by JC panels and K by KC
 * so the B panels in use stay in cache.
 */
function packedAcc(m: number, n: number, k: number, a: FloatArray, aOff: number, b: FloatArray, bOff: number, c: FloatArray, cOff: number): void {
  const mp = (m + 3) >> 2;
  const np = (n + 3) >> 2;
  const ap = new Float32Array(mp * 4 * k);
  const bp = new Float32Array(np * 4 * k);
  for (let i = 0; i < m; i++) {
    const base = (i >> 2) * k * 4 + (i & 3);
    const src = aOff + i * k;
    for (let p = 0; p < k; p++) ap[base + p * 4] = a[src + p]!;
  }
  for (let p = 0; p < k; p++) {
    const src = bOff + p * n;
    for (let j = 0; j < n; j++) bp[((j >> 2) * k + p) * 4 + (j & 3)] = b[src + j]!;
  }
  for (let jc = 0; jc < np; jc += JC) {
    const jce = Math.min(np, jc + JC);
    for (let kc = 0; kc < k; kc += KC) {
      const ke = Math.min(k, kc + KC);
      for (let ib = 0; ib < mp; ib++) {
        for (let jb = jc; jb < jce; jb++) {
          let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
          let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
          let ao = (ib * k + kc) * 4;
          let bo = (jb * k + kc) * 4;
          for (let p = kc; p < ke; p++, ao += 4, bo += 4) {
            const b0 = bp[bo]!, b1 = bp[bo + 1]!, b2 = bp[bo + 2]!, b3 = bp[bo + 3]!;
            let x = ap[ao]!;
            c00 += x * b0; c01 += x * b1; c02 += x * b2; c03 += x * b3;
            x = ap[ao + 1]!;
            c10 += x * b0; c11 += x * b1; c12 += x * b2; c13 += x * b3;
            x = ap[ao + 2]!;
            c20 += x * b0; c21 += x * b1; c22 += x * b2; c23 += x * b3;
            x = ap[ao + 3]!;
            c30 += x * b0; c31 += x * b1; c32 += x * b2; c33 += x * b3;
          }
          const i0 = ib * 4;
          const j0 = jb * 4;
          if (i0 + 4 <= m && j0 + 4 <= n) {
            let o = cOff + i0 * n + j0;
            c[o] = c[o]! + c00; c[o + 1] = c[o + 1]! + c01; c[o + 2] = c[o + 2]! + c02; c[o + 3] = c[o + 3]! + c03;
            o += n;
            c[o] = c[o]! + c10; c[o + 1] = c[o + 1]! + c11; c[o + 2] = c[o + 2]! + c12; c[o + 3] = c[o + 3]! + c13;
            o += n;
            c[o] = c[o]! + c20; c[o + 1] = c[o + 1]! + c21; c[o + 2] = c[o + 2]! + c22; c[o + 3] = c[o + 3]! + c23;
            o += n;
            c[o] = c[o]! + c30; c[o + 1] = c[o + 1]! + c31; c[o + 2] = c[o + 2]! + c32; c[o + 3] = c[o + 3]! + c33;
          } else {
            const t = [c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33];
            for (let r = 0; r < 4 && i0 + r < m; r++) {
              for (let q = 0; q < 4 && j0 + q < n; q++) {
                const o = cOff + (i0 + r) * n + j0 + q;
                c[o] = c[o]! + t[r * 4 + q]!;
              }
            }
          }
        }
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

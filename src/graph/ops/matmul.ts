/** Op family: matmul. (Being written.) */
export const matmulOps = {} as const;

/** Op family: pool. (Being written.) */
export const poolOps = {} as const;

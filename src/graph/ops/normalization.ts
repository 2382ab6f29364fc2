/** Op family: normalization. (Being written.) */
export const normalizationOps = {} as const;

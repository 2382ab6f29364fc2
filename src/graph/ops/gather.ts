/** Op family: gather. (Being written.) */
export const gatherOps = {} as const;

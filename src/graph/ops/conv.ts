/** Op family: conv. (Being written.) */
export const convOps = {} as const;

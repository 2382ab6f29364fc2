/** Op family: movement. (Being written.) */
export const movementOps = {} as const;

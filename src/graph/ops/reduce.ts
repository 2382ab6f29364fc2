/** Op family: reduce. (Being written.) */
export const reduceOps = {} as const;

/** Op family: misc. (Being written.) */
export const miscOps = {} as const;

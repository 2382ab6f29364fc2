/** Op family: resize. (Being written.) */
export const resizeOps = {} as const;

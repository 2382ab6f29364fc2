/** Op family: shape. (Being written.) */
export const shapeOps = {} as const;

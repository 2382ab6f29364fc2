/** Op family: softmax. (Being written.) */
export const softmaxOps = {} as const;

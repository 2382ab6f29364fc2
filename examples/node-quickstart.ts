import { GraphBuilder, InferenceSession, Tensor, layers } from 'kiln';

const b = new GraphBuilder('mlp');
const x = b.input('x', 'float32', ['batch', 4]);            // symbolic batch dim
const y = layers.sequential(layers.dense(8, { activation: 'relu' }), layers.dense(3), layers.softmax())(b, x);
b.output(y, 'probs');                                        // shape/dtype errors surface here, at build time
const session = await InferenceSession.create(b.build(), { optimizationLevel: 2 });
const { probs } = await session.run({ x: new Tensor('float32', [1, 2, 3, 4], [1, 4]) });
console.log(probs!.toArray()); // three probabilities summing to 1

import { InferenceSession, Tensor } from 'kiln';

const session = await InferenceSession.create('./model.onnx'); // WebGPU if the browser has it, else wasm
const { name, shape } = session.inputMetadata[0];
const dims = shape.map((d) => (typeof d === 'number' ? d : 1)); // symbolic dims (batch) → 1
const size = dims.reduce((a, b) => a * b, 1);
const input = new Tensor('float32', Float32Array.from({ length: size }, (_, i) => Math.sin(i / 7)), dims);
const outputs = await session.run({ [name]: input });
const y = outputs[session.outputNames[0]].data;
console.log(`kiln ${session.backend}: argmax ${y.indexOf(Math.max(...y))}, max ${Math.max(...y).toFixed(4)}`);

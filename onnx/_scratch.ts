import { readFileSync } from 'node:fs';
import { onnx } from './proto.js';
for (const f of process.argv.slice(2)) {
const m = onnx.ModelProto.decode(readFileSync(f));
console.log(f.split('/').slice(-2)[0], JSON.stringify(m.opsetImport), m.graph!.node!.map(n => n.opType + '(' + n.attribute!.map(a => a.name).join(',') + ')').join(' '));
}

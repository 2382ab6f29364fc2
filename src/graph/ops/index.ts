/**
 * Every op family. Importing this module registers all ops and installs the
 * builder's per-op methods. `OPS` is the typed table the builder's methods come from.
 */
import { installOpMethods } from '../builder.js';
import { bilinearOps } from './bilinear.js';
import { binaryOps } from './binary.js';
import { optimizerOps } from './optimizers.js';
import { gradientOps } from './gradient-op.js';
import { mlOps } from './ml.js';
import { mlTreeOps } from './ml-tree.js';
import { constantOps } from './constant.js';
import { controlOps } from './control.js';
import { contribOps } from './contrib.js';
import { cumsumOps } from './cumsum.js';
import { dataDependentOps } from './data-dependent.js';
import { convOps } from './conv.js';
import { fusedOps } from './fused.js';
import { gatherOps } from './gather.js';
import { imageOps } from './image.js';
import { matmulOps } from './matmul.js';
import { movementOps } from './movement.js';
import { normalizationOps } from './normalization.js';
import { padOps } from './pad.js';
import { poolOps } from './pool.js';
import { quantizeOps } from './quantize.js';
import { randomOps } from './random.js';
import { rankingOps } from './ranking.js';
import { rearrangeOps } from './rearrange.js';
import { reduceOps } from './reduce.js';
import { resizeOps } from './resize.js';
import { rnnOps } from './rnn.js';
import { sampleOps } from './sample.js';
import { scatterOps } from './scatter.js';
import { sequenceOps } from './sequence.js';
import { shapeOps } from './shape.js';
import { signalOps } from './signal.js';
import { softmaxOps } from './softmax.js';
import { unaryOps } from './unary.js';
import { stringOps } from './strings.js';
import { labelEncoderOps } from './ml-label-encoder.js';

/** All ops by name. */
export const OPS = {
  ...constantOps,
  ...unaryOps,
  ...binaryOps,
  ...reduceOps,
  ...softmaxOps,
  ...normalizationOps,
  ...matmulOps,
  ...convOps,
  ...poolOps,
  ...shapeOps,
  ...movementOps,
  ...padOps,
  ...rearrangeOps,
  ...gatherOps,
  ...scatterOps,
  ...dataDependentOps,
  ...resizeOps,
  ...cumsumOps,
  ...rankingOps,
  ...fusedOps,
  ...quantizeOps,
  ...signalOps,
  ...rnnOps,
  ...sampleOps,
  ...imageOps,
  ...bilinearOps,
  ...randomOps,
  ...controlOps,
  ...sequenceOps,
  ...stringOps,
} as const;

/**
 * ONNX Runtime's contrib ops (domain com.microsoft, some sharing a core op's name),
 * kept out of {@link OPS} and its builder methods: apply them by handle.
 */
export const CONTRIB_OPS = contribOps;

/** The optimizer updates of ONNX's preview training domain (Adagrad, Momentum, Adam), applied by handle like the contrib ops. */
export const TRAINING_OPS = optimizerOps;

/** ONNX's Gradient op (preview training domain), which ONNX import expands into backward nodes (src/graph/autodiff.ts). */
export const GRADIENT_OPS = gradientOps;

/** The ONNX-ML ops (domain ai.onnx.ml: tree ensembles, linear and SVM models, feature transforms), applied by handle like the contrib ops. */
export const ML_OPS = { ...mlTreeOps, ...mlOps };

/** ai.onnx.ml's LabelEncoder (string, integer and float tables), applied by handle like the contrib ops. */
export const LABEL_ENCODER_OPS = labelEncoderOps;

installOpMethods();

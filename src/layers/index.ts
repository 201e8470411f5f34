// Every layer type, registered in one place (a plain list, family by family).
import { combinatorDefs } from '../combinators.js';
import { conditioningDefs } from './conditioning.js';
import { registerLayers } from '../config.js';
import { attentionDefs } from './attention/index.js';
import { gmmAttentionDefs } from './attention/gmm-attention.js';
import { convolutionDefs } from './convolution.js';
import { dspDefs } from './dsp.js';
import { denseDefs } from './dense.js';
import { normalizationDefs } from './normalization.js';
import { paddingDefs } from './padding.js';
import { poolingDefs } from './pooling.js';
import { positionDefs } from './position.js';
import { timeVaryingDefs } from './time-varying.js';
import { recurrentDefs } from './recurrent.js';
import { shapeDefs } from './shape.js';
import { simpleDefs } from './simple.js';

registerLayers([...combinatorDefs, ...simpleDefs, ...denseDefs, ...convolutionDefs, ...poolingDefs, ...normalizationDefs, ...shapeDefs, ...recurrentDefs, ...positionDefs, ...timeVaryingDefs, ...conditioningDefs, ...dspDefs, ...attentionDefs, ...gmmAttentionDefs, ...paddingDefs]);

// Every layer type, registered in one place (a plain list, family by family).
import { combinatorDefs } from '../combinators.js';
import { registerLayers } from '../config.js';
import { simpleDefs } from './simple.js';

registerLayers([...combinatorDefs, ...simpleDefs]);

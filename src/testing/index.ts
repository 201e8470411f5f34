// Test helpers for users' own layers: the contract checker and the reference's helpers.
export { verifyContract, stepByStep, assertSequencesClose, ContractError } from './contract.js';
export type { ContractOptions, ContractReport } from './contract.js';
export { randomSequence, normal } from './random.js';
export type { RandomSequenceOptions } from './random.js';

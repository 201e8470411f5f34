// The example's model: a small causal convolution stack over 8 features per frame. Its weights
// come from weights.safetensors (sl.writeSafetensors(model.getWeights()) where it was made).
export const inputShape = [8];

export const config = {
  type: 'Serial',
  layers: [
    { type: 'Conv1D', filters: 16, kernel_size: 3, padding: 'causal' },
    { type: 'Relu' },
    { type: 'Conv1D', filters: 16, kernel_size: 2, dilation_rate: 2, padding: 'causal' },
    { type: 'Dense', features: 4 },
  ],
};

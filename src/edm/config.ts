/** EDM SongUNet (DDPM++) configurations: presets, validation, and inference from a state dict. */
import { ErrorCode, OnestepError, typeError } from '../errors.js';
import type { Tensor } from '../tensor.js';

export interface EDMConfig {
  imgResolution: number;
  inChannels: number;
  outChannels: number;
  /** Classes for class conditioning (0: unconditional). */
  labelDim: number;
  /** Augmentation-label width (EDM's augment pipe uses 9; 0: none). */
  augmentDim: number;
  modelChannels: number;
  channelMult: number[];
  numBlocks: number;
  attnResolutions: number[];
  dropout: number;
  channelMultEmb: number;
}

export const PRESETS = {
  /** Fashion-MNIST padded to 32×32, class-conditional: 6 988 289 parameters. */
  fmnist32: {
    imgResolution: 32, inChannels: 1, outChannels: 1, labelDim: 10, augmentDim: 0, modelChannels: 64,
    channelMult: [1, 2, 2], numBlocks: 2, attnResolutions: [16], dropout: 0.1, channelMultEmb: 4,
  },
  /** EDM's class-conditional CIFAR-10 DDPM++: 55 735 299 parameters. */
  'cifar10-ddpmpp': {
    imgResolution: 32, inChannels: 3, outChannels: 3, labelDim: 10, augmentDim: 9, modelChannels: 128,
    channelMult: [2, 2, 2], numBlocks: 4, attnResolutions: [16], dropout: 0.13, channelMultEmb: 4,
  },
} as const satisfies Record<string, EDMConfig>;

export type PresetName = keyof typeof PRESETS;

export function resolveConfig(presetOrConfig: PresetName | Partial<EDMConfig> & Pick<EDMConfig, 'imgResolution'>): EDMConfig {
  if (typeof presetOrConfig === 'string') {
    const preset = (PRESETS as Record<string, EDMConfig>)[presetOrConfig];
    if (!preset) throw typeError(`unknown preset '${presetOrConfig}': use ${Object.keys(PRESETS).join(' or ')}, or pass a config`);
    return { ...preset, channelMult: [...preset.channelMult], attnResolutions: [...preset.attnResolutions] };
  }
  if (presetOrConfig === null || typeof presetOrConfig !== 'object') throw typeError('EDMNetwork needs a preset name or a config object');
  const defaults = PRESETS.fmnist32;
  const config: EDMConfig = {
    ...defaults, channelMult: [...defaults.channelMult], attnResolutions: [...defaults.attnResolutions],
    outChannels: presetOrConfig.outChannels ?? presetOrConfig.inChannels ?? defaults.outChannels,
    ...presetOrConfig,
  } as EDMConfig;
  return config;
}

/**
 * The config of an EDM state dict, from its names and shapes (keys with or without `model.`).
 * Dropout cannot be read from weights: it is 0 unless given (it matters only for training).
 */
export function inferConfig(stateDict: Map<string, Tensor>): { config: EDMConfig; notes: string[] } {
  const prefix = [...stateDict.keys()].some((k) => k.startsWith('model.')) ? 'model.' : '';
  const shape = (key: string) => stateDict.get(prefix + key)?.shape;
  const conv0 = [...stateDict.keys()].map((k) => new RegExp(`^${prefix.replace('.', '\\.')}enc\\.(\\d+)x\\1_conv\\.weight$`).exec(k)).find((m) => m);
  if (!conv0) {
    throw new OnestepError(ErrorCode.CheckpointUnsupported,
      "cannot infer an EDM config: no 'enc.<R>x<R>_conv.weight' entry (is this an EDM SongUNet state dict?); pass { config }");
  }
  const resolution = Number(conv0[1]);
  const [modelChannels, inChannels] = shape(`enc.${resolution}x${resolution}_conv.weight`)!;
  const channelMult: number[] = [];
  const attnResolutions: number[] = [];
  for (let level = 0; ; level++) {
    const res = resolution >> level;
    const block0 = shape(`enc.${res}x${res}_block0.conv1.weight`);
    if (!block0 || res < 1) break;
    channelMult.push(block0[0]! / modelChannels!);
    if (shape(`enc.${res}x${res}_block0.qkv.weight`)) attnResolutions.push(res);
  }
  let numBlocks = 0;
  while (shape(`enc.${resolution}x${resolution}_block${numBlocks}.conv1.weight`)) numBlocks++;
  const outChannels = shape(`dec.${resolution}x${resolution}_aux_conv.weight`)?.[0];
  const emb = shape('map_layer0.weight')?.[0];
  const notes = ['dropout cannot be inferred from weights: set to 0 (pass { config } to train with dropout)'];
  if (outChannels === undefined || emb === undefined || channelMult.length === 0 || numBlocks === 0) {
    throw new OnestepError(ErrorCode.CheckpointUnsupported,
      'cannot infer an EDM config: the state dict lacks dec.<R>x<R>_aux_conv, map_layer0 or encoder blocks; pass { config }');
  }
  return {
    config: {
      imgResolution: resolution, inChannels: inChannels!, outChannels, labelDim: shape('map_label.weight')?.[1] ?? 0,
      augmentDim: shape('map_augment.weight')?.[1] ?? 0, modelChannels: modelChannels!, channelMult, numBlocks,
      attnResolutions, dropout: 0, channelMultEmb: emb / modelChannels!,
    },
    notes,
  };
}

/**
 * onestep: train one-step diffusion generators without distillation, on a native libtorch core.
 * This module is the public entry point.
 */
export { Tensor, tidy, dispose, isTensor } from './tensor.js';
export type { Device, Operand, Scalar, ReduceOptions } from './tensor.js';
export { keep } from './scope.js';
export { tensor, zeros, ones, full, randn, rand, randint, arange, cat, stack, where, conv2d } from './creation.js';
export type { TensorOptions, Conv2dOptions } from './creation.js';
export { cuda, manualSeed, setNumThreads, getNumThreads, isGradEnabled, noGrad, memory, sharesStorage, buildInfo } from './runtime.js';
export type { BuildInfo } from './runtime.js';
export { DTYPES } from './dtype.js';
export type { DType, FloatDType, HostArray, HostArrayOf, TensorData } from './dtype.js';
export { ErrorCode, OnestepError } from './errors.js';
export { loadCheckpoint, loadStateDict, StateDict, PyObject, STATE_DICT_KEYS } from './checkpoint/load.js';
export type { LoadOptions } from './checkpoint/load.js';
export { saveStateDict } from './checkpoint/save.js';
export type { SaveOptions } from './checkpoint/save.js';
export { loadInto } from './checkpoint/load-into.js';
export type { LoadTarget, LoadIntoReport } from './checkpoint/load-into.js';
export { EDMNetwork } from './edm/network.js';
export type { DenoiseOptions } from './edm/network.js';
export { PRESETS, inferConfig } from './edm/config.js';
export type { EDMConfig, PresetName } from './edm/config.js';
export { edmSample, teacherOneStep } from './edm/sampler.js';
export type { SampleOptions } from './edm/sampler.js';
export { FashionMNIST, FASHION_MNIST_CLASSES } from './data/fashion-mnist.js';
export type { ImageSet } from './data/fashion-mnist.js';
export { TeacherTrainer } from './edm/teacher-trainer.js';
export type { TeacherTrainingOptions, TeacherStepStats } from './edm/teacher-trainer.js';
export { saveImageGrid } from './image/grid.js';
export { Classifier, DEFAULT_CLASSIFIER_PATH } from './eval/classifier.js';
export { evaluate, fid, precisionRecall } from './eval/metrics.js';
export type { Evaluation, ImageSource } from './eval/metrics.js';
export { ImageDataset } from './data/image-dataset.js';
export { oneHotLabels } from './dijs/class-labels.js';
export { RatioNetwork } from './dijs/ratio-network.js';
export type { RatioHeadOptions } from './dijs/ratio-network.js';
export { OneStepGenerator } from './dijs/generator.js';
export type { GeneratorInit, GeneratorSampleOptions } from './dijs/generator.js';
export { DiJSTrainer } from './dijs/trainer.js';
export type { DiJSOptions, DiJSTrainerArgs, DiJSStats, SigmaDistribution } from './dijs/trainer.js';
export { divergenceLoss, ratioLoss, DIVERGENCES } from './dijs/divergence.js';
export type { Divergence } from './dijs/divergence.js';
export { saveCurves, renderCurves } from './image/curves.js';
export type { CurveChart, CurveSeries } from './image/curves.js';
export { trainSession, writeCurves } from './dijs/session.js';
export type { SessionOptions, SessionResult } from './dijs/session.js';
export { saveSamples, loadSamples } from './image/samples.js';

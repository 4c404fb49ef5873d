/**
 * VGG16's ImageNet weights, by job: types.ts is their shape, hdf5.ts reads the official Keras file,
 * download.ts finds it (configured path or URL, cache folder, download), and random.ts makes
 * seeded random weights for tests and benchmarks.
 */

export { convWeights, type Vgg16ConvWeights, type Vgg16Weights } from "./types.js";
export { randomVgg16Weights, randomWeightsSeed } from "./random.js";
export { readVgg16H5 } from "./hdf5.js";
export {
  resolveVgg16Weights,
  resolveVgg16WeightsFile,
  vgg16WeightsCachePath,
  vgg16WeightsMd5,
  type DownloadProgress,
  type ResolveVgg16WeightsOptions,
  type ResolvedVgg16WeightsFile,
} from "./download.js";

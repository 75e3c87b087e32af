/**
 * Train the yardstick classifier on Fashion-MNIST and save it (models/fmnist-classifier.safetensors
 * by default). Its penultimate features define onestep's FID, precision and recall.
 *   npx tsx examples/train-classifier.ts --device cuda --epochs 20
 */
import { commandLine } from './command-line.js';
import cliProgress from 'cli-progress';
import { Classifier, cuda, DEFAULT_CLASSIFIER_PATH, FashionMNIST, manualSeed, type Device } from '../src/index.js';

const { values: args } = commandLine(import.meta.url, {
  options: {
    // 'cuda' when a GPU is there, else 'cpu'; 'cuda:1' picks a GPU.
    device: { type: 'string', default: cuda.isAvailable() ? 'cuda' : 'cpu' },
    // Passes over the 60 k training images.
    epochs: { type: 'string', default: '20' },
    // Batch size.
    batch: { type: 'string', default: '256' },
    // Adam's learning rate.
    lr: { type: 'string', default: '1e-3' },
    // Seeds the weights and the data order.
    seed: { type: 'string', default: '0' },
    // Where the weights go (the shipped yardstick by default).
    out: { type: 'string', default: DEFAULT_CLASSIFIER_PATH },
    // Train on the first N images only (a quick check).
    'data-limit': { type: 'string' },
  },
});
const device = args.device as Device;
manualSeed(Number(args.seed));
const limit = args['data-limit'] ? Number(args['data-limit']) : undefined;
const train = await FashionMNIST.load({ split: 'train', device, limit });
const test = await FashionMNIST.load({ split: 'test', device });
const classifier = Classifier.create({ seed: Number(args.seed), device });
const batch = Number(args.batch);
const stepsPerEpoch = Math.ceil(train.images.shape[0]! / batch);
const epochs = Number(args.epochs);
const bar = new cliProgress.SingleBar({ format: 'classifier |{bar}| epoch {value}/{total} | loss {loss} | train acc {acc} | ETA {eta_formatted}' }, cliProgress.Presets.shades_classic);
bar.start(epochs, 0, { loss: '-', acc: '-' });
for (let epoch = 0; epoch < epochs; epoch++) {
  // Cosine-free schedule: full rate, then a tenth for the last quarter.
  const lr = Number(args.lr) * (epoch >= epochs * 0.75 ? 0.1 : 1);
  const stats = await classifier.train(train, { steps: stepsPerEpoch, batchSize: batch, lr });
  bar.update(epoch + 1, { loss: stats.loss.toFixed(4), acc: stats.accuracy.toFixed(4) });
}
bar.stop();
const accuracy = await classifier.accuracy(test);
console.log(`test accuracy ${(accuracy * 100).toFixed(2)} % (${test.images.shape[0]} images)`);
await classifier.save(args.out!);
console.log(`saved ${args.out}`);
train.dispose();
test.dispose();

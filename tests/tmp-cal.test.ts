import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'vitest';
import { calibrateRatio, DiJSTrainer, EDMNetwork, manualSeed, OneStepGenerator, randint, randn } from '../src/index.js';
import { meanLogit, TINY_EDM } from './helpers.js';
it('cpu numbers', async () => {
  const teacher = EDMNetwork.create(TINY_EDM, { seed: 1 });
  const images = randn([256, 1, 32, 32]).clamp(-1, 1), labels = randint(0, 10, [256]);
  const data = { images, labels, classes: [], dispose() {} };
  const path = join(tmpdir(), `tmpcal-${process.pid}.safetensors`);
  manualSeed(4);
  const trainer = new DiJSTrainer({ teacher, data, batchSize: 16, seed: 4, lookaheadSteps: 2, lrG: 1e-2, emaHalfLifeImages: 16 });
  await trainer.step(9);
  await trainer.save(path);
  const moved = trainer.generator;
  const other = OneStepGenerator.fromTeacher(teacher);
  for (const lrD of [1e-3, 1e-4]) {
  const calibrate = (g: OneStepGenerator) => calibrateRatio(path, g, data, { images: 160, lrD });
  const a = await calibrate(moved), b = await calibrate(moved), c = await calibrate(other);
  console.log(lrD, 'own', await meanLogit(c, other), 'movedMade', await meanLogit(a, other), 'again', await meanLogit(b, other), 'on moved: own', await meanLogit(a, moved), 'init-made', await meanLogit(c, moved));
  }
}, 600000);

/**
 * Extra EMAs beside a trainer's main one (DiJSTrainer, TeacherTrainer): each a copy of the trained
 * network at its own half-life, updated in the fused step (native/src/train/extra_emas.h).
 */
import { typeError, valueError } from '../errors.js';

/** Each is a whole copy of the network, updated every iteration. */
export const MAX_EXTRA_EMAS = 8;

/** The half-lives (images), checked and frozen. */
export function checkExtraEmaHalfLives(halfLives: unknown): number[] {
  if (!Array.isArray(halfLives) || halfLives.some((h) => typeof h !== 'number'))
    throw typeError(`extraEmaHalfLives must be an array of half-lives in images, not ${JSON.stringify(halfLives)}`);
  if (halfLives.length > MAX_EXTRA_EMAS) throw valueError(`extraEmaHalfLives takes at most ${MAX_EXTRA_EMAS} half-lives (each is a copy of the network), not ${halfLives.length}`);
  const bad = halfLives.find((h) => !(Number.isFinite(h) && h > 0));
  if (bad !== undefined) throw valueError(`extraEmaHalfLives must be positive, finite numbers of images; got ${bad}`);
  return Object.freeze([...halfLives]) as number[];
}

/**
 * One epoch of a training curve: what the head's training loop measures, what a model bundle and
 * an attempt's result record, and what the tuning policy reads to diagnose an attempt. It lives in
 * its own module, apart from the trainer, so that tuning/ and records/ read the shape without
 * depending on the code that trains.
 */
export interface EpochCurve {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  testLoss: number;
  testAccuracy: number;
  validationLoss: number | null;
  /** True when the loss is NaN or infinite: the learning rate is too high. */
  diverged: boolean;
}

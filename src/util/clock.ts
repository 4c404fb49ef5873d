/**
 * The one source of time for code that decides by it (kubebuilder injects a Clock the same way):
 * the controller reads the time only through the clock it is given, so a test drives it with a fake
 * one and a pass is replayable from its inputs. Milliseconds since the Unix epoch, as Date.now().
 */
export interface Clock {
  now(): number;
}

/** The machine's clock. */
export const systemClock: Clock = { now: () => Date.now() };

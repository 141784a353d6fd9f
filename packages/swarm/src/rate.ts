/** A rate in bytes/s, smoothed exponentially over about `timeConstantSeconds`. */
export class RateMeter {
  readonly #timeConstant: number;
  #rate = 0;
  #bytes = 0;
  total = 0;

  constructor(timeConstantSeconds = 5) {
    this.#timeConstant = timeConstantSeconds;
  }

  add(bytes: number): void {
    this.#bytes += bytes;
    this.total += bytes;
  }

  /** Folds the bytes counted since the last tick into the rate; `seconds` since that tick. */
  tick(seconds: number): void {
    if (seconds <= 0) return;
    const alpha = 1 - Math.exp(-seconds / this.#timeConstant);
    this.#rate += alpha * (this.#bytes / seconds - this.#rate);
    this.#bytes = 0;
  }

  get rate(): number {
    return this.#rate;
  }
}

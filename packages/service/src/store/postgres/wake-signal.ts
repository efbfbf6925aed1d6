/**
 * A generation counter that waiters can block on. A waiter remembers the generation before it
 * checks the database and then waits for a later one, so a wake-up that arrives while it is
 * checking is never lost.
 */
export class WakeSignal {
  #generation = 0;
  #pending: Array<() => void> = [];

  get generation(): number {
    return this.#generation;
  }

  wake(): void {
    this.#generation += 1;
    const pending = this.#pending;
    this.#pending = [];
    for (const resolve of pending) resolve();
  }

  /** Resolves as soon as the generation is past `seen` (at once if it already is). */
  after(seen: number): { promise: Promise<void>; cancel: () => void } {
    if (this.#generation > seen) return { promise: Promise.resolve(), cancel: () => undefined };
    let resolve!: () => void;
    const promise = new Promise<void>((r) => (resolve = r));
    this.#pending.push(resolve);
    return {
      promise,
      cancel: () => {
        this.#pending = this.#pending.filter((entry) => entry !== resolve);
      },
    };
  }
}

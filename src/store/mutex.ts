/**
 * In-process mutual exclusion: callers run one at a time, in order. (Across processes, the
 * LevelDB lock excludes.)
 * @module
 */
export class Mutex {
  private tail: Promise<void> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const res = this.tail.then(fn);
    this.tail = res.then(() => undefined, () => undefined);
    return res;
  }
}

// Admission control for `pillow serve`: at most `concurrency` requests run, at most `capacity` wait;
// beyond that the server answers 429 at once instead of letting latency grow without bound.

export class QueueFullError extends Error {
  constructor(readonly capacity: number) {
    super(`server busy: ${capacity} request(s) already waiting — retry later`);
    this.name = "QueueFullError";
  }
}

export class QueueClosedError extends Error {
  constructor() {
    super("server is shutting down");
    this.name = "QueueClosedError";
  }
}

type Waiter = { resolve: (release: () => void) => void; reject: (error: Error) => void };

export class RequestQueue {
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private closed = false;
  private idleListeners: (() => void)[] = [];

  constructor(
    readonly concurrency: number,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1)
      throw new Error(`concurrency must be an integer ≥ 1, got ${concurrency}`);
    if (!Number.isInteger(capacity) || capacity < 0)
      throw new Error(`queue capacity must be an integer ≥ 0, got ${capacity}`);
  }

  get active(): number {
    return this.running;
  }

  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Resolves with a release function once a slot is free. Throws QueueFullError when the wait list is
   * full, QueueClosedError after close(). A waiter whose signal aborts leaves the line.
   */
  acquire(signal?: AbortSignal): Promise<() => void> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    if (this.running < this.concurrency) {
      this.running += 1;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.capacity) return Promise.reject(new QueueFullError(this.capacity));
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { resolve, reject };
      this.waiting.push(waiter);
      signal?.addEventListener(
        "abort",
        () => {
          const index = this.waiting.indexOf(waiter);
          if (index >= 0) {
            this.waiting.splice(index, 1);
            reject(new Error("request aborted while waiting"));
          }
        },
        { once: true },
      );
    });
  }

  /** Refuses new work, fails everything still waiting; running work finishes. */
  close(): void {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter.reject(new QueueClosedError());
    this.notifyIdle();
  }

  /** Resolves when nothing runs (at once if idle). */
  whenIdle(): Promise<void> {
    if (this.running === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleListeners.push(resolve));
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) {
        next.resolve(this.releaser()); // the slot passes straight to the next waiter
      } else {
        this.running -= 1;
        this.notifyIdle();
      }
    };
  }

  private notifyIdle(): void {
    if (this.running !== 0 || this.waiting.length !== 0) return;
    for (const listener of this.idleListeners.splice(0)) listener();
  }
}

import { describe, expect, it } from "vitest";
import { QueueClosedError, QueueFullError, RequestQueue } from "./request-queue.js";

describe("RequestQueue", () => {
  it("runs up to concurrency, queues up to capacity, rejects beyond", async () => {
    const queue = new RequestQueue(2, 1);
    const first = await queue.acquire();
    const second = await queue.acquire();
    let thirdStarted = false;
    const third = queue.acquire().then((release) => {
      thirdStarted = true;
      return release;
    });
    await expect(queue.acquire()).rejects.toBeInstanceOf(QueueFullError);
    expect([queue.active, queue.queued]).toEqual([2, 1]);
    first();
    first(); // releasing twice must not free two slots
    const releaseThird = await third;
    expect(thirdStarted).toBe(true);
    expect([queue.active, queue.queued]).toEqual([2, 0]);
    second();
    releaseThird();
    expect(queue.active).toBe(0);
    await queue.whenIdle();
  });

  it("drops an aborted waiter and fails waiters on close", async () => {
    const queue = new RequestQueue(1, 4);
    const running = await queue.acquire();
    const controller = new AbortController();
    const aborted = queue.acquire(controller.signal);
    const closedOut = queue.acquire();
    controller.abort();
    await expect(aborted).rejects.toThrow(/aborted while waiting/);
    expect(queue.queued).toBe(1);
    queue.close();
    await expect(closedOut).rejects.toBeInstanceOf(QueueClosedError);
    await expect(queue.acquire()).rejects.toBeInstanceOf(QueueClosedError);
    const idle = queue.whenIdle();
    running();
    await idle;
    expect(queue.active).toBe(0);
  });
});

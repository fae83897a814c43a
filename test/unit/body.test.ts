import { expect } from "chai";
import { MemoryBudget } from "../../core/body.ts";
import { BackpressureError } from "../../core/errors.ts";

describe("memory budget for bodies in flight", () => {
  it("lets requests hold bytes up to the limit and refuses the one that would go over", () => {
    const budget = new MemoryBudget(100, "max_inflight_bytes");
    const a = budget.reserve();
    const b = budget.reserve();
    a.take(60);
    b.take(30);
    expect(budget.used).to.equal(90);
    let err: unknown;
    try {
      b.take(20);
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(BackpressureError);
    expect((err as BackpressureError).status).to.equal(503);
    expect((err as Error).message).to.equal("pushes in flight hold 90 bytes, the limit is 100 (max_inflight_bytes); nothing of this push was accepted, retry later");
    a.release();
    b.release();
    expect(budget.used).to.equal(0);
  });

  it("always lets a request alone through, however large", () => {
    const budget = new MemoryBudget(100, "max_inflight_bytes");
    const only = budget.reserve();
    only.take(80);
    only.take(500);
    expect(budget.used).to.equal(580);
    const other = budget.reserve();
    expect(() => other.take(1)).to.throw(BackpressureError);
    only.release();
    other.take(1);
    expect(budget.used).to.equal(1);
  });
});

import { expect } from "chai";
import { Counter, Registry } from "prom-client";
import { Tally } from "../../core/tally.ts";

function setup() {
  const registry = new Registry();
  const counter = new Counter({ name: "t_total", help: "t", labelNames: ["method", "code"] as const, registers: [registry] });
  return { registry, counter };
}

describe("Tally", () => {
  it("hands its counts to the counter when the registry is read, per label set", async () => {
    const { registry, counter } = setup();
    const t = new Tally(counter);
    t.add(1, "PUT", "200");
    t.add(2, "PUT", "200");
    t.add(1, "POST", "400");
    const text = await registry.metrics();
    expect(text).to.include('t_total{method="PUT",code="200"} 3');
    expect(text).to.include('t_total{method="POST",code="400"} 1');
    t.add(4, "PUT", "200");
    expect(await registry.metrics(), "later counts add to what was handed over").to.include('t_total{method="PUT",code="200"} 7');
    expect((await counter.get()).values.find((v) => v.labels.method === "POST")?.value, "read again without new counts").to.equal(1);
  });

  it("shows a series counted with zero, and several tallies of one counter add up", async () => {
    const { registry, counter } = setup();
    const a = new Tally(counter);
    const b = new Tally(counter);
    a.add(0, "GET", "200");
    a.add(2, "PUT", "200");
    b.add(5, "PUT", "200");
    const text = await registry.metrics();
    expect(text).to.include('t_total{method="GET",code="200"} 0');
    expect(text).to.include('t_total{method="PUT",code="200"} 7');
  });

  it("keeps label sets apart whose values would join alike", async () => {
    const { registry, counter } = setup();
    const t = new Tally(counter);
    t.add(1, "a", "b c");
    t.add(1, "a b", "c");
    const text = await registry.metrics();
    expect(text).to.include('t_total{method="a",code="b c"} 1');
    expect(text).to.include('t_total{method="a b",code="c"} 1');
  });
});

// The paper's protocol trains every strategy on several task orders: the curriculum order (as given),
// its reverse, and seeded random permutations.
import { createRandom, deriveSeed } from "../random.js";

export type TrainingOrder = { name: string; tasks: string[] };

/**
 * Orders from specs: "curriculum" (the given order), "reverse", "random:N" (N permutations, named
 * random-1..random-N; permutation k is a pure function of k, so `random:2` ⊂ `random:3`).
 */
export function resolveOrders(specs: readonly string[], curriculum: readonly string[]): TrainingOrder[] {
  if (!Array.isArray(specs) || specs.length === 0)
    throw new RangeError("orders: give at least one of curriculum, reverse, random:N");
  const names = new Set<string>();
  for (const [index, name] of curriculum.entries()) {
    if (names.has(name)) throw new RangeError(`orders: task name "${name}" is used twice (tasks[${index}])`);
    names.add(name);
  }
  const orders: TrainingOrder[] = [];
  for (const raw of specs) {
    const spec = raw.trim();
    if (spec === "curriculum") orders.push({ name: "curriculum", tasks: [...curriculum] });
    else if (spec === "reverse") orders.push({ name: "reverse", tasks: [...curriculum].reverse() });
    else if (/^random:\d+$/.test(spec)) {
      const count = Number(spec.slice("random:".length));
      if (count < 1) throw new RangeError(`orders: "${spec}" asks for no random order; use random:1 or more`);
      for (let k = 1; k <= count; k++)
        orders.push({
          name: `random-${k}`,
          tasks: createRandom(deriveSeed(0, "training-order", k)).shuffled(curriculum),
        });
    } else if (spec.includes(">")) {
      // An explicit order: task names separated by ">" (every task once).
      const tasks = spec.split(">").map((name: string) => name.trim());
      for (const name of tasks)
        if (!names.has(name))
          throw new RangeError(`orders: "${spec}" names unknown task "${name}" (known: ${curriculum.join(", ")})`);
      if (new Set(tasks).size !== tasks.length || tasks.length !== curriculum.length) {
        throw new RangeError(`orders: "${spec}" must name each of the ${curriculum.length} tasks exactly once`);
      }
      orders.push({ name: spec, tasks });
    } else {
      throw new RangeError(
        `orders: unknown order "${spec}"; use curriculum, reverse, random:N or an explicit order a>b>c`,
      );
    }
  }
  const seen = new Set<string>();
  for (const order of orders) {
    if (seen.has(order.name)) throw new RangeError(`orders: "${order.name}" is given twice`);
    seen.add(order.name);
  }
  return orders;
}

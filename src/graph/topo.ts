/**
 * The one topological sort. Graphs, graph editors and the ONNX importer all order
 * their nodes with {@link topoSort}.
 *
 * Algorithm: an iterative depth-first search (no recursion, so a chain of any
 * length cannot overflow the stack). The items are taken as roots in their given
 * order; from each root the search follows the item's inputs, left to right, to
 * their producers and emits an item once every producer of its inputs has been
 * emitted (post-order). Each item is marked "open" while it is on the search stack
 * and "done" once emitted; reaching an open item again means a cycle, reported as a
 * {@link CycleError} naming that item.
 *
 * Invariants: the result holds each item of `items` and each producer reached
 * from them exactly once; every item comes after the producers of its inputs; the
 * order is stable — an already sorted list comes back unchanged, and otherwise an
 * item moves only as far forward as its producers need (ties keep the given order).
 */

import { GraphError } from './errors.js';

/** What {@link topoSort} needs of an item: a name and op for errors, and its inputs. */
export interface TopoItem {
  /** Name used in error messages. */
  readonly name: string;
  /** Op used in error messages. */
  readonly op: string;
  /** The names of the values the item reads; `''` is an omitted optional input. */
  readonly inputs: readonly string[];
}

/** A cycle found by {@link topoSort}: `node` lies on it and reads `value`, which depends on `node`. */
export class CycleError<T extends TopoItem = TopoItem> extends GraphError {
  /** An item on the cycle. */
  readonly node: T;
  /** The input of some item on the cycle through which the search came back to `node`. */
  readonly value: string;
  constructor(node: T, value: string) {
    super(`cycle: node '${node.name}' (${node.op}) depends on itself through '${value}'`, node.name);
    this.node = node;
    this.value = value;
  }
}

/**
 * Orders `items` so that each comes after the producers of its inputs (stable; see
 * the file comment). `producerOf(value, reader)` gives the item producing a value,
 * or `undefined` for values with no producing item (graph inputs, initializers); it
 * may throw for a value nothing defines. Producers not in `items` are included.
 * Throws {@link CycleError} on a cycle.
 */
export function topoSort<T extends TopoItem>(
  items: Iterable<T>,
  producerOf: (value: string, reader: T) => T | undefined,
): T[] {
  const done = new Set<T>();
  const open = new Set<T>();
  const order: T[] = [];
  for (const root of items) {
    if (done.has(root)) continue;
    const stack: { item: T; next: number }[] = [{ item: root, next: 0 }];
    open.add(root);
    while (stack.length) {
      const top = stack[stack.length - 1]!;
      if (top.next < top.item.inputs.length) {
        const value = top.item.inputs[top.next++]!;
        if (value === '') continue;
        const p = producerOf(value, top.item);
        if (p === undefined || done.has(p)) continue;
        if (open.has(p)) throw new CycleError(p, value);
        open.add(p);
        stack.push({ item: p, next: 0 });
      } else {
        open.delete(top.item);
        done.add(top.item);
        order.push(top.item);
        stack.pop();
      }
    }
  }
  return order;
}

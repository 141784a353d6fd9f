/** The part of node:test's `TestContext` used to stop things when a test ends. */
export interface AfterHook {
  after(fn: () => unknown): void;
}

const stacks = new WeakMap<AfterHook, (() => unknown)[]>();

/**
 * Runs `fn` when the test `t` ends, in reverse order of registration (node:test runs `after`
 * hooks first-in first-out, which would stop nats-server before the services using it).
 * Every step runs even if an earlier one fails; failures are rethrown together at the end.
 */
export function onCleanup(t: AfterHook, fn: () => unknown): void {
  let stack = stacks.get(t);
  if (stack === undefined) {
    const steps: (() => unknown)[] = [];
    stack = steps;
    stacks.set(t, steps);
    t.after(async () => {
      const errors: unknown[] = [];
      while (steps.length > 0) {
        try {
          await steps.pop()!();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, 'several cleanup steps failed');
    });
  }
  stack.push(fn);
}

/**
 * Named readiness conditions ("nats": connected, "kv": bound...). The service is ready when
 * every condition registered so far is true; `/readyz` reports each one.
 */
export class Readiness {
  readonly #conditions = new Map<string, { ok: boolean; detail: string | undefined }>();

  set(name: string, ok: boolean, detail?: string): void {
    this.#conditions.set(name, { ok, detail });
  }

  get ready(): boolean {
    if (this.#conditions.size === 0) return false;
    for (const condition of this.#conditions.values()) if (!condition.ok) return false;
    return true;
  }

  snapshot(): { ready: boolean; checks: Record<string, { ok: boolean; detail?: string }> } {
    const checks: Record<string, { ok: boolean; detail?: string }> = {};
    for (const [name, { ok, detail }] of this.#conditions) {
      checks[name] = detail === undefined ? { ok } : { ok, detail };
    }
    return { ready: this.ready, checks };
  }
}

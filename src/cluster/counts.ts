/**
 * `ClusterCounts`: a driver's `metrics()` counted from the cluster events it
 * emits (sessions acquired and released, nodes joined and left), for the
 * workers' drivers, which have no lease to time. A Redis node counts more
 * (renewals, handoff time) in `FleetNode`.
 */
import type { ClusterDriverInput } from '../manager/index.js';
import type { ClusterMetrics } from '../metrics/index.js';

export class ClusterCounts {
  #owned = 0;
  #members = 0;
  #acquired = 0;
  readonly #released: Record<string, number> = {};

  /** `emit`, counting what goes through it. */
  wrap(emit: ClusterDriverInput['emit']): ClusterDriverInput['emit'] {
    return (event, e) => {
      if (event === 'session_acquired') {
        this.#owned++;
        this.#acquired++;
      } else if (event === 'session_released') {
        this.#owned--;
        const { reason } = e as { reason: string };
        this.#released[reason] = (this.#released[reason] ?? 0) + 1;
      } else if (event === 'node_joined') this.#members++;
      else if (event === 'node_left') this.#members--;
      emit(event, e);
    };
  }

  metrics(): ClusterMetrics {
    return {
      owned: this.#owned,
      members: this.#members,
      acquired: this.#acquired,
      released: { ...this.#released },
      handoffs: 0,
      handoffSeconds: 0,
      renewals: 0,
      renewalSeconds: 0,
      leaseAgeSeconds: undefined,
    };
  }
}

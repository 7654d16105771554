// One fetch life cycle for everything a view loads, in the spirit of Mosaic's MosaicClient:
// pending, result, error, stale (the last result stays on screen while a newer request runs)
// and cancel (a newer request aborts the older one, whose answer is dropped even if it arrives).
import { untrack } from 'svelte';
import { isAbort } from '../api/client.svelte';
import { errorMessage } from './format';
import { generation } from './refetch.svelte';

/**
 * Makes one request. Pass `signal` only to requests nobody else shares: an answer the client
 * caches for several readers must not be aborted by one of them.
 */
export type Load<T> = (signal: AbortSignal) => Promise<T>;

export interface ResourceOptions<T> {
  /** Runs in the same tick as `result` changes, so what it sets lands in the same update. */
  onResult?: (value: T) => void;
}

export class Resource<T> {
  result = $state.raw<T | null>(null);
  error = $state<string | null>(null);
  pending = $state(false);
  private controller: AbortController | null = null;

  constructor(private readonly options: ResourceOptions<T> = {}) {}

  /** A result is shown, but a newer request is on its way. */
  get stale(): boolean {
    return this.pending && this.result !== null;
  }

  /**
   * Starts a request; the one running before it is aborted and its answer ignored. An answer is
   * also ignored when `current` says it no longer fits what is asked.
   */
  request(load: Load<T>, current: () => boolean = () => true): void {
    this.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.pending = true;
    let answer: Promise<T>;
    try {
      answer = untrack(() => load(controller.signal));
    } catch (e) {
      answer = Promise.reject(e);
    }
    answer.then(
      (value) => {
        if (this.controller !== controller || !current()) return;
        this.controller = null;
        this.result = value;
        this.error = null;
        this.pending = false;
        this.options.onResult?.(value);
      },
      (e: unknown) => {
        if (this.controller !== controller || !current()) return;
        this.controller = null;
        this.pending = false;
        if (!isAbort(e)) this.error = errorMessage(e);
      },
    );
  }

  /** Drops the running request; the last result and error stay. */
  cancel(): void {
    this.abort();
    this.pending = false;
  }

  private abort(): void {
    this.controller?.abort();
    this.controller = null;
  }

  /**
   * Keeps the resource loaded. `track` runs in an effect: what it reads are the dependencies, and
   * it returns the request to make, or null when there is nothing to load. Call it while a
   * component initialises; the request in flight is aborted when the component goes away.
   */
  follow(track: () => Load<T> | null): void {
    // A derived, not just the effect: it recomputes as soon as an input changes, so an answer
    // that lands before the effect re-runs is already known to be stale.
    const next = $derived.by(() => {
      void generation(); // a reconnect re-requests what is on screen
      return track();
    });
    $effect(() => {
      const load = next;
      untrack(() => (load ? this.request(load, () => next === load) : this.cancel()));
      // Only aborts: a re-run that requests again keeps `pending` true without a flicker.
      return () => this.abort();
    });
  }
}

/** A resource that follows `track` (see `Resource.follow`); for components. */
export function resource<T>(track: () => Load<T> | null, options?: ResourceOptions<T>): Resource<T> {
  const r = new Resource<T>(options);
  r.follow(track);
  return r;
}

import { expired } from "./errors.js";
import { clone, stableJson, type KObject, type ResourceName } from "./resources.js";

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  type: EventType;
  rv: number;
  resource: ResourceName;
  namespace: string;
  object: KObject;
  /** The object before a MODIFIED or DELETED change. */
  previous: KObject | null;
}

export type StoreListener = (event: StoreEvent) => void;

/** A copy with the usual field order: apiVersion, kind, metadata, then the rest (spec, status, data...). */
function canonical(object: KObject): KObject {
  const { apiVersion, kind, metadata, ...rest } = clone(object);
  return { ...(apiVersion === undefined ? {} : { apiVersion }), ...(kind === undefined ? {} : { kind }), metadata, ...rest };
}

/** Watch history kept before old events are dropped (as etcd compaction would). */
const HISTORY_LIMIT = 20_000;

/**
 * etcd + watch cache in one: objects by key, one global resourceVersion counter, and the history
 * of changes that watches replay from a resourceVersion.
 */
export class Store {
  private rv = 1;
  private readonly objects = new Map<string, KObject>();
  private history: StoreEvent[] = [];
  /** Events with rv <= compactedRv are forgotten; a watch from before that gets 410 Gone. */
  private compactedRv = 0;
  private readonly listeners = new Set<StoreListener>();

  currentRv(): number {
    return this.rv;
  }

  private key(resource: ResourceName, namespace: string, name: string): string {
    return `${resource}/${namespace}/${name}`;
  }

  get(resource: ResourceName, namespace: string, name: string): KObject | null {
    const found = this.objects.get(this.key(resource, namespace, name));
    return found ? clone(found) : null;
  }

  has(resource: ResourceName, namespace: string, name: string): boolean {
    return this.objects.has(this.key(resource, namespace, name));
  }

  /** Objects of a resource (in one namespace, or all with null), ordered by namespace and name like etcd keys. */
  list(resource: ResourceName, namespace: string | null): KObject[] {
    const prefix = namespace === null ? `${resource}/` : `${resource}/${namespace}/`;
    return [...this.objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => clone(object));
  }

  private emit(event: StoreEvent): void {
    this.history.push(event);
    if (this.history.length > HISTORY_LIMIT) {
      const dropped = this.history.splice(0, this.history.length - HISTORY_LIMIT);
      this.compactedRv = dropped[dropped.length - 1]!.rv;
    }
    for (const listener of [...this.listeners]) listener(event);
  }

  create(resource: ResourceName, object: KObject): KObject {
    const namespace = object.metadata.namespace ?? "";
    const stored = canonical(object);
    this.rv += 1;
    stored.metadata.resourceVersion = String(this.rv);
    this.objects.set(this.key(resource, namespace, stored.metadata.name ?? ""), stored);
    this.emit({ type: "ADDED", rv: this.rv, resource, namespace, object: clone(stored), previous: null });
    return clone(stored);
  }

  /** Writes a new version of an existing object; a no-op (nothing but resourceVersion differs) is not written. */
  update(resource: ResourceName, object: KObject): KObject {
    const namespace = object.metadata.namespace ?? "";
    const key = this.key(resource, namespace, object.metadata.name ?? "");
    const previous = this.objects.get(key);
    if (!previous) throw new Error(`update of missing ${key}`);
    const stored = canonical(object);
    stored.metadata.resourceVersion = previous.metadata.resourceVersion;
    if (stableJson(stored) === stableJson(previous)) return clone(previous);
    this.rv += 1;
    stored.metadata.resourceVersion = String(this.rv);
    this.objects.set(key, stored);
    this.emit({ type: "MODIFIED", rv: this.rv, resource, namespace, object: clone(stored), previous: clone(previous) });
    return clone(stored);
  }

  /** get + change + update, for controllers; returns null if the object is gone. */
  mutate(resource: ResourceName, namespace: string, name: string, change: (object: KObject) => void): KObject | null {
    const object = this.get(resource, namespace, name);
    if (!object) return null;
    change(object);
    return this.update(resource, object);
  }

  remove(resource: ResourceName, namespace: string, name: string): KObject | null {
    const key = this.key(resource, namespace, name);
    const previous = this.objects.get(key);
    if (!previous) return null;
    this.objects.delete(key);
    this.rv += 1;
    const deleted = clone(previous);
    deleted.metadata.resourceVersion = String(this.rv);
    this.emit({ type: "DELETED", rv: this.rv, resource, namespace, object: clone(deleted), previous: clone(previous) });
    return deleted;
  }

  /** Forgets all history: watches from any resourceVersion older than the current one get 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** The events after `rv`, or a 410 Expired ApiError if they are no longer retained. */
  eventsSince(rv: number): StoreEvent[] {
    if (rv < this.compactedRv) throw expired(rv, this.compactedRv + 1);
    return this.history.filter((event) => event.rv > rv).map((event) => ({ ...event, object: clone(event.object), previous: event.previous && clone(event.previous) }));
  }

  subscribe(listener: StoreListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

// Preact glue: re-render a component when the store changes.
import { useEffect, useReducer, useRef } from "preact/hooks";
import type { State, Store } from "../state/store.ts";

export function useStoreState(store: Store): State {
  const [, tick] = useReducer((n: number) => n + 1, 0);
  const seen = useRef(store.state);
  seen.current = store.state;
  useEffect(() => {
    const off = store.subscribe(() => tick(0));
    // A change between this render and the subscription (effects run after paint) would
    // otherwise go unseen until the next one.
    if (store.state !== seen.current) tick(0);
    return off;
  }, [store]);
  return store.state;
}

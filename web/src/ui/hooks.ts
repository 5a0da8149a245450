// Preact glue: re-render a component when the store changes.
import { useEffect, useReducer } from "preact/hooks";
import type { State, Store } from "../state/store.ts";

export function useStoreState(store: Store): State {
  const [, tick] = useReducer((n: number) => n + 1, 0);
  useEffect(() => store.subscribe(() => tick(0)), [store]);
  return store.state;
}

// libsodium, loaded on first use: it is the largest part of the client (WebAssembly inside),
// and only end-to-end encryption needs it, so it stays out of the initial load.
import type Sodium from "libsodium-wrappers";

export type SodiumLib = typeof Sodium;

let loading: Promise<SodiumLib> | null = null;

export function loadSodium(): Promise<SodiumLib> {
  loading ??= import("libsodium-wrappers").then(async (m) => {
    await m.default.ready;
    return m.default;
  });
  return loading;
}

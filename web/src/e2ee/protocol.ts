// The byte-level rules of Parley's end-to-end encryption (docs/security.md, "End-to-end
// encrypted conversations"): the signed statements, associated data, key derivation and safety
// numbers, exactly as the reference client (tests/integration/e2ee_client.py) computes them.
import type { SodiumLib } from "./sodium.ts";

export const kVersion = "parley-e2ee-v1";

export function b64(s: SodiumLib, bytes: Uint8Array): string {
  return s.to_base64(bytes, s.base64_variants.URLSAFE_NO_PADDING);
}

export function unb64(s: SodiumLib, text: string): Uint8Array {
  return s.from_base64(text, s.base64_variants.URLSAFE_NO_PADDING);
}

export const dhStatement = (dhKey: string) => `${kVersion}|dh|${dhKey}`;
export const spkStatement = (id: number, key: string) => `${kVersion}|spk|${id}|${key}`;
export const messageStatement = (conv: string, keyId: string, nonce: string, ct: string) => `${kVersion}|msg|${conv}|${keyId}|${nonce}|${ct}`;
export const messageAd = (conv: string, user: string, device: string, keyId: string) => `${kVersion}|msg|${conv}|${user}|${device}|${keyId}`;
export const boxAd = (conv: string, fromUser: string, fromDevice: string, toUser: string, toDevice: string) =>
  `${kVersion}|box|${conv}|${fromUser}|${fromDevice}|${toUser}|${toDevice}`;

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// The key of a key box: BLAKE2b-256 of "parley-e2ee-v1|box|" and the X3DH secret.
export function boxKey(s: SodiumLib, secret: Uint8Array): Uint8Array {
  return s.crypto_generichash(32, concat(s.from_string(`${kVersion}|box|`), secret), null);
}

// 60 digits two people compare: 30 for each user, from the identity keys of all their
// devices, the halves in username order so that both compute the same number.
export function safetyNumber(s: SodiumLib, userA: string, keysA: string[], userB: string, keysB: string[]): string {
  const half = (user: string, keys: string[]) => {
    const digest = s.crypto_generichash(32, `${kVersion}|safety|${user}|${[...keys].sort().join(",")}`, null);
    let out = "";
    for (let i = 0; i < 6; i++) {
      let n = 0;
      for (let j = 0; j < 5; j++) n = n * 256 + digest[i * 5 + j];
      out += String(n % 100000).padStart(5, "0");
    }
    return out;
  };
  const pair: [string, string[]][] = [
    [userA, keysA],
    [userB, keysB],
  ];
  pair.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return half(...pair[0]) + half(...pair[1]);
}

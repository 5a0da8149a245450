// Files in end-to-end encrypted conversations: each is encrypted in the browser under a key
// of its own (XChaCha20-Poly1305, one shot) before it is uploaded; the key, the nonce and the
// real name and type travel inside the encrypted message (`files` beside `text`), never to
// the server, which stores ciphertext under a neutral name and cannot make thumbnails of it.
import { b64, kVersion, unb64 } from "./protocol.ts";
import { loadSodium } from "./sodium.ts";

export interface SealedFile {
  id: string; // the uploaded ciphertext's file id
  key: string;
  nonce: string;
  name: string;
  mime: string;
  size: number; // of the plaintext
}

const kFileAd = `${kVersion}|file`;

export async function sealFile(file: File): Promise<{ bytes: Uint8Array; meta: Omit<SealedFile, "id"> }> {
  const s = await loadSodium();
  const key = s.randombytes_buf(32);
  const nonce = s.randombytes_buf(24);
  const bytes = s.crypto_aead_xchacha20poly1305_ietf_encrypt(new Uint8Array(await file.arrayBuffer()), kFileAd, null, nonce, key);
  return { bytes, meta: { key: b64(s, key), nonce: b64(s, nonce), name: file.name, mime: file.type || "application/octet-stream", size: file.size } };
}

export async function openFile(bytes: ArrayBuffer, meta: SealedFile): Promise<Blob> {
  const s = await loadSodium();
  const plain = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, new Uint8Array(bytes), kFileAd, unb64(s, meta.nonce), unb64(s, meta.key));
  return new Blob([plain as BlobPart], { type: meta.mime });
}

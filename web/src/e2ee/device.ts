// This browser's device in end-to-end encrypted conversations: its keys, the sender keys it
// made and those it was given, and the steps of docs/security.md ("End-to-end encrypted
// conversations") — the same as tests/integration/e2ee_client.py, which is the reference.
//
// State lives in IndexedDB (keystore.ts) and is saved after every change, so a reload keeps
// the keys (and what it can read). The device directory of other users is cached in memory and
// fetched again after a `devices` event (forget()).
import type { Rest } from "../api/rest.ts";
import type { DeviceRecord, Envelope, KeyBox, Message } from "../api/types.ts";
import type { SealedFile } from "./files.ts";
import { loadRecord, saveRecord } from "./keystore.ts";
import { b64, boxAd, boxKey, concat, dhStatement, messageAd, messageStatement, safetyNumber, spkStatement, unb64 } from "./protocol.ts";
import { loadSodium, type SodiumLib } from "./sodium.ts";

// What an encrypted message holds: its text, and the keys of the files it carries
// (e2ee/files.ts). The reference client reads `text` and ignores the rest.
export interface MessagePayload {
  text: string;
  files?: SealedFile[];
}

export class CannotDecrypt extends Error {
  // This device holds no key for the message (yet): a later key box may bring it.
  constructor(
    message: string,
    readonly noKey = false,
  ) {
    super(message);
  }
}

interface KeyPair {
  pk: string;
  sk: string;
}

interface DeviceState {
  user: string;
  id: string;
  identity: KeyPair; // Ed25519
  dh: KeyPair; // X25519
  spk: KeyPair & { id: number };
  oneTime: Record<number, KeyPair>;
  nextOneTime: number;
  senderKeys: Record<string, { id: string; key: string; holders: string[] }>; // conv → ours
  received: Record<string, string>; // "conv|user|device|keyId" → sender key
}

const kOneTimeBatch = 20;
const kOneTimeLow = 10;

const holder = (user: string, device: string) => `${user}/${device}`;
const slot = (conv: string, user: string, device: string, keyId: string) => `${conv}|${user}|${device}|${keyId}`;

export class E2eeDevice {
  private directory = new Map<string, Map<string, DeviceRecord>>();
  private consumed = new Set<number>(); // one-time prekeys this tab used (not merged back)
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly s: SodiumLib,
    private readonly rest: Rest,
    private state: DeviceState,
  ) {}

  get id(): string {
    return this.state.id;
  }

  // How many sender keys this device holds: grows when a key box opens.
  get keysHeld(): number {
    return Object.keys(this.state.received).length;
  }

  // The device of `user` on this browser: loaded, or made; then published in the directory
  // when the server does not have it, and given more one-time prekeys when they run low.
  // Under a Web Lock: two tabs opening at once must not both make a device.
  static async open(user: string, rest: Rest): Promise<E2eeDevice> {
    const s = await loadSodium();
    const open = () => E2eeDevice.loadOrCreate(s, user, rest);
    return navigator.locks ? (navigator.locks.request(`parley-e2ee-${user}`, open) as unknown as Promise<E2eeDevice>) : open();
  }

  private static async loadOrCreate(s: SodiumLib, user: string, rest: Rest): Promise<E2eeDevice> {
    let state = await loadRecord<DeviceState>(user);
    if (!state) {
      const pair = (kp: { publicKey: Uint8Array; privateKey: Uint8Array }) => ({ pk: b64(s, kp.publicKey), sk: b64(s, kp.privateKey) });
      state = {
        user,
        id: `web-${b64(s, s.randombytes_buf(6))}`,
        identity: pair(s.crypto_sign_keypair()),
        dh: pair(s.crypto_box_keypair()),
        spk: { id: 1, ...pair(s.crypto_box_keypair()) },
        oneTime: {},
        nextOneTime: 1,
        senderKeys: {},
        received: {},
      };
      await saveRecord(user, state);
    }
    const device = new E2eeDevice(s, rest, state);
    await device.publish();
    return device;
  }

  // Writes the state, merged with what another tab of this browser wrote since (its tabs share
  // the device): keys it learned, prekeys it made, sender keys it started. Under a Web Lock of
  // its own (open() holds the device's lock while it publishes, and these locks do not nest).
  private save(): Promise<void> {
    const user = this.state.user;
    const write = async () => {
      await this.mergeStored();
      await saveRecord(user, structuredClone(this.state));
    };
    this.saving = this.saving.then(() =>
      navigator.locks ? (navigator.locks.request(`parley-e2ee-save-${user}`, write) as unknown as Promise<void>) : write(),
    );
    return this.saving;
  }

  private async mergeStored() {
    const stored = await loadRecord<DeviceState>(this.state.user);
    if (!stored || stored.id !== this.state.id) return;
    this.state.received = { ...stored.received, ...this.state.received };
    for (const [id, kp] of Object.entries(stored.oneTime)) {
      const n = Number(id);
      if (!(n in this.state.oneTime) && !this.consumed.has(n)) this.state.oneTime[n] = kp;
    }
    this.state.nextOneTime = Math.max(this.state.nextOneTime, stored.nextOneTime);
    for (const [conv, sk] of Object.entries(stored.senderKeys)) this.state.senderKeys[conv] ??= sk;
  }

  private async publish() {
    const mine = (await this.rest.myDevices()).devices.find((d) => d.device === this.state.id);
    if (mine && mine.identity_key === this.state.identity.pk) {
      if (mine.one_time_prekeys < kOneTimeLow) await this.addOneTime(kOneTimeBatch);
      return;
    }
    const s = this.s;
    const sk = unb64(s, this.state.identity.sk);
    const { dh, spk } = this.state;
    await this.rest.putDevice(this.state.id, {
      identity_key: this.state.identity.pk,
      dh_key: dh.pk,
      dh_signature: b64(s, s.crypto_sign_detached(dhStatement(dh.pk), sk)),
      signed_prekey: { id: spk.id, key: spk.pk, signature: b64(s, s.crypto_sign_detached(spkStatement(spk.id, spk.pk), sk)) },
    });
    this.state.oneTime = {}; // a new identity's directory entry starts without any
    await this.addOneTime(kOneTimeBatch);
  }

  private async addOneTime(count: number) {
    const batch: { id: number; key: string }[] = [];
    for (let i = 0; i < count; i++) {
      const kp = this.s.crypto_box_keypair();
      const id = this.state.nextOneTime++;
      this.state.oneTime[id] = { pk: b64(this.s, kp.publicKey), sk: b64(this.s, kp.privateKey) };
      batch.push({ id, key: this.state.oneTime[id].pk });
    }
    await this.save(); // the private halves first: a box may use one as soon as it is listed
    await this.rest.addOneTimePrekeys(this.state.id, batch);
  }

  // A user's devices with both signatures checked (the server is not trusted with keys).
  async fetchDevices(user: string, claim: boolean): Promise<Map<string, DeviceRecord>> {
    const s = this.s;
    const devices = new Map<string, DeviceRecord>();
    for (const d of (await this.rest.userDevices(user, claim)).devices) {
      const idk = unb64(s, d.identity_key);
      const ok =
        s.crypto_sign_verify_detached(unb64(s, d.dh_signature), dhStatement(d.dh_key), idk) &&
        s.crypto_sign_verify_detached(unb64(s, d.signed_prekey.signature), spkStatement(d.signed_prekey.id, d.signed_prekey.key), idk);
      if (ok) devices.set(d.device, d); // a device whose keys do not verify is ignored
    }
    this.directory.set(user, devices);
    return devices;
  }

  // A `devices` event for `user`: the next message fetches their devices again.
  forget(user: string) {
    this.directory.delete(user);
  }

  // A new sender key for conv: the next message gives it to every member device (after a
  // member left, or a device was removed, so they cannot read what follows).
  rotate(conv: string) {
    const id = b64(this.s, this.s.randombytes_buf(9));
    const key = b64(this.s, this.s.randombytes_buf(32));
    this.state.senderKeys[conv] = { id, key, holders: [holder(this.state.user, this.state.id)] };
    this.state.received[slot(conv, this.state.user, this.state.id, id)] = key;
    this.directory.clear();
    void this.save();
  }

  // The envelope (the message body) of `text` for every device of `members`, and the devices
  // whose key boxes it carries (accepted() once the server stored it). An edit carries boxes
  // for every device.
  async encrypt(conv: string, members: string[], payload: MessagePayload, clientMsgId: string, edit = false): Promise<{ body: string; boxedFor: string[] }> {
    const s = this.s;
    if (!this.state.senderKeys[conv]) this.rotate(conv);
    const sk = this.state.senderKeys[conv];
    const holders = new Set(sk.holders);
    const boxes: KeyBox[] = [];
    for (const user of members) {
      let devices = this.directory.get(user);
      if (!devices || edit || [...devices.keys()].some((d) => !holders.has(holder(user, d)))) devices = await this.fetchDevices(user, true);
      for (const [device, record] of devices) {
        if (user === this.state.user && device === this.state.id) continue;
        if (holders.has(holder(user, device)) && !edit) continue;
        boxes.push(this.box(conv, user, device, record, sk));
      }
    }
    const nonce = s.randombytes_buf(24);
    const plaintext = JSON.stringify({ text: payload.text, ...(payload.files?.length ? { files: payload.files } : {}), client_msg_id: clientMsgId });
    const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, messageAd(conv, this.state.user, this.state.id, sk.id), null, nonce, unb64(s, sk.key));
    const nonceText = b64(s, nonce);
    const ctText = b64(s, ct);
    const envelope: Envelope = {
      v: 1,
      device: this.state.id,
      key: sk.id,
      nonce: nonceText,
      ct: ctText,
      sig: b64(s, s.crypto_sign_detached(messageStatement(conv, sk.id, nonceText, ctText), unb64(s, this.state.identity.sk))),
    };
    if (boxes.length) envelope.keys = boxes;
    return { body: JSON.stringify(envelope), boxedFor: boxes.map((b) => holder(b.user, b.device)) };
  }

  // The server stored a message whose boxes were for these devices: they hold the key now.
  accepted(conv: string, boxedFor: string[]) {
    const sk = this.state.senderKeys[conv];
    if (!sk || !boxedFor.length) return;
    sk.holders = [...new Set([...sk.holders, ...boxedFor])];
    void this.save();
  }

  private box(conv: string, user: string, device: string, record: DeviceRecord, sk: { id: string; key: string }): KeyBox {
    const s = this.s;
    const ephemeral = s.crypto_box_keypair();
    const theirDh = unb64(s, record.dh_key);
    const theirSpk = unb64(s, record.signed_prekey.key);
    const parts = [
      s.crypto_scalarmult(unb64(s, this.state.dh.sk), theirSpk),
      s.crypto_scalarmult(ephemeral.privateKey, theirDh),
      s.crypto_scalarmult(ephemeral.privateKey, theirSpk),
    ];
    const oneTime = record.one_time_prekey;
    if (oneTime) {
      parts.push(s.crypto_scalarmult(ephemeral.privateKey, unb64(s, oneTime.key)));
      record.one_time_prekey = null; // used: a later box to this device goes without
    }
    const key = boxKey(s, concat(...parts));
    const nonce = s.randombytes_buf(24);
    const payload = JSON.stringify({ conv, key_id: sk.id, key: sk.key });
    const ct = s.crypto_aead_xchacha20poly1305_ietf_encrypt(payload, boxAd(conv, this.state.user, this.state.id, user, device), null, nonce, key);
    const box: KeyBox = { user, device, spk: record.signed_prekey.id, ek: b64(s, ephemeral.publicKey), nonce: b64(s, nonce), ct: b64(s, ct) };
    if (oneTime) box.opk = oneTime.id;
    return box;
  }

  // The text of a message of an encrypted conversation, or CannotDecrypt saying why.
  async decrypt(msg: Message): Promise<MessagePayload> {
    const s = this.s;
    let env: Envelope;
    try {
      env = JSON.parse(msg.body ?? "") as Envelope;
    } catch {
      throw new CannotDecrypt("not an encrypted message");
    }
    const record = await this.senderDevice(msg.from, env.device);
    const verified = s.crypto_sign_verify_detached(unb64(s, env.sig), messageStatement(msg.conv, env.key, env.nonce, env.ct), unb64(s, record.identity_key));
    if (!verified) throw new CannotDecrypt("its signature does not verify");
    const where = slot(msg.conv, msg.from, env.device, env.key);
    if (!this.state.received[where]) await this.mergeStored(); // another tab may have opened its box
    if (!this.state.received[where]) {
      const mine = (env.keys ?? []).find((b) => b.user === this.state.user && b.device === this.state.id);
      if (mine) await this.openBox(msg.conv, msg.from, env.device, record, mine);
    }
    const key = this.state.received[where];
    if (!key) throw new CannotDecrypt("this device was not given its key (it was sent before this device was added)", true);
    let plaintext: string;
    try {
      plaintext = s.to_string(s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, unb64(s, env.ct), messageAd(msg.conv, msg.from, env.device, env.key), unb64(s, env.nonce), unb64(s, key)));
    } catch {
      throw new CannotDecrypt("the ciphertext does not open");
    }
    const parsed = JSON.parse(plaintext) as { text?: unknown; files?: unknown };
    const files = Array.isArray(parsed.files) ? (parsed.files as SealedFile[]).filter((f) => f && typeof f.id === "string" && typeof f.key === "string") : undefined;
    return { text: String(parsed.text ?? ""), ...(files?.length ? { files } : {}) };
  }

  private async senderDevice(user: string, device: string): Promise<DeviceRecord> {
    let known = this.directory.get(user);
    if (!known?.has(device)) known = await this.fetchDevices(user, false);
    const record = known.get(device);
    if (!record) throw new CannotDecrypt(`${user} has no device ${device}`);
    return record;
  }

  private async openBox(conv: string, sender: string, senderDevice: string, record: DeviceRecord, box: KeyBox) {
    const s = this.s;
    if (box.spk !== this.state.spk.id) throw new CannotDecrypt("a key box for a signed prekey this device no longer has");
    const ephemeral = unb64(s, box.ek);
    const theirDh = unb64(s, record.dh_key);
    const spk = unb64(s, this.state.spk.sk);
    const parts = [s.crypto_scalarmult(spk, theirDh), s.crypto_scalarmult(unb64(s, this.state.dh.sk), ephemeral), s.crypto_scalarmult(spk, ephemeral)];
    if (box.opk !== undefined) {
      const oneTime = this.state.oneTime[box.opk];
      if (!oneTime) throw new CannotDecrypt("a key box for a one-time prekey already used");
      parts.push(s.crypto_scalarmult(unb64(s, oneTime.sk), ephemeral));
      delete this.state.oneTime[box.opk]; // used once, then forgotten
      this.consumed.add(box.opk);
    }
    let payload: { conv: string; key_id: string; key: string };
    try {
      const opened = s.crypto_aead_xchacha20poly1305_ietf_decrypt(null, unb64(s, box.ct), boxAd(conv, sender, senderDevice, this.state.user, this.state.id), unb64(s, box.nonce), boxKey(s, concat(...parts)));
      payload = JSON.parse(s.to_string(opened));
    } catch {
      throw new CannotDecrypt("a key box that does not open");
    }
    if (payload.conv !== conv) throw new CannotDecrypt("a key box for another conversation");
    this.state.received[slot(conv, sender, senderDevice, payload.key_id)] = payload.key;
    await this.save();
  }

  // The 60 digits this user and `peer` compare (docs/security.md, "Safety numbers").
  async safetyNumber(peer: string): Promise<string> {
    const mine = await this.fetchDevices(this.state.user, false);
    const theirs = await this.fetchDevices(peer, false);
    const keys = (m: Map<string, DeviceRecord>) => [...m.values()].map((d) => d.identity_key);
    return safetyNumber(this.s, this.state.user, keys(mine), peer, keys(theirs));
  }

  // The device names of `user` the directory lists now (for telling the user about new ones).
  async deviceNames(user: string): Promise<string[]> {
    return [...(await this.fetchDevices(user, false)).keys()];
  }
}

// End-to-end encrypted conversations as the Store sees them (docs/protocol.md §11): this
// browser's device (e2ee/device.ts, loaded with libsodium on first use), the plaintext of the
// messages it could open, and what the user should know about other people's devices.
//
// Decryption runs one message at a time, in seq order per conversation: a message can carry
// the key box that the next ones need. Results are keyed by message id and rev, so an edit is
// decrypted again. A message this device has no key for yet is tried again whenever a key box
// opens (its box may ride on an older message that a history page brings later).
import { describe } from "../api/errors.ts";
import type { Rest } from "../api/rest.ts";
import type { Message } from "../api/types.ts";
import { CannotDecrypt, E2eeDevice, type MessagePayload } from "../e2ee/device.ts";

export type Plain = MessagePayload | { error: string };

export interface DeviceNotice {
  user: string;
  added: string[]; // device names new since this browser last looked
}

export class Encryption {
  private device: Promise<E2eeDevice> | null = null;
  private queue: Message[] = [];
  private draining = false;
  private waitingForKey = new Map<string, Message>(); // failed for want of a key, by keyOf
  private knownDevices = new Map<string, Set<string>>();
  plaintexts: ReadonlyMap<string, Plain> = new Map();
  notices: readonly DeviceNotice[] = [];

  constructor(
    private readonly rest: Rest,
    private readonly changed: () => void,
  ) {}

  // Loads (or makes) the device and publishes it: others can encrypt to this browser from then.
  ready(user: string): Promise<E2eeDevice> {
    this.device ??= E2eeDevice.open(user, this.rest);
    this.device.catch(() => (this.device = null)); // tried again on the next use
    return this.device;
  }

  reset() {
    this.device = null;
    this.queue = [];
    this.waitingForKey.clear();
    this.plaintexts = new Map();
    this.notices = [];
    this.knownDevices.clear();
  }

  static keyOf(m: Message): string {
    return `${m.id}:${m.rev ?? 0}`;
  }

  // Messages of encrypted conversations to open, in the order they came.
  decrypt(user: string, messages: readonly Message[]) {
    for (const m of messages) {
      const known = this.plaintexts.get(Encryption.keyOf(m));
      if (m.deleted || !m.body || (known && "text" in known)) continue;
      this.queue.push(m);
    }
    if (!this.draining && this.queue.length) void this.drain(user);
  }

  private async drain(user: string) {
    this.draining = true;
    try {
      const device = await this.ready(user);
      while (this.queue.length) {
        const batch = this.queue.splice(0).sort((a, b) => (a.conv < b.conv ? -1 : a.conv > b.conv ? 1 : a.seq - b.seq));
        const next = new Map(this.plaintexts);
        const keysBefore = device.keysHeld;
        for (const m of batch) {
          const key = Encryption.keyOf(m);
          const known = next.get(key);
          if (known && "text" in known) continue;
          try {
            next.set(key, await device.decrypt(m));
            this.waitingForKey.delete(key);
          } catch (e) {
            next.set(key, { error: e instanceof CannotDecrypt ? e.message : describe(e) });
            if (e instanceof CannotDecrypt && e.noKey) this.waitingForKey.set(key, m);
          }
        }
        this.plaintexts = next;
        this.changed();
        // A key box opened in this batch: what waited for a key gets another try.
        if (device.keysHeld > keysBefore) this.queue.push(...this.waitingForKey.values());
      }
    } catch (e) {
      // No device (libsodium or the directory failed): the messages say why, and are tried
      // again with the next batch.
      const next = new Map(this.plaintexts);
      for (const m of this.queue.splice(0)) next.set(Encryption.keyOf(m), { error: `cannot decrypt here yet: ${describe(e)}` });
      this.plaintexts = next;
      this.changed();
    } finally {
      this.draining = false;
    }
  }

  // The body to send: `text` encrypted for every device of `members`.
  async encrypt(user: string, conv: string, members: string[], payload: MessagePayload, clientMsgId: string, edit = false) {
    const device = await this.ready(user);
    return device.encrypt(conv, members, payload, clientMsgId, edit);
  }

  async accepted(user: string, conv: string, boxedFor: string[]) {
    (await this.ready(user)).accepted(conv, boxedFor);
  }

  // Someone left an encrypted group: a new sender key, which they will not get.
  async memberLeft(user: string, conv: string) {
    (await this.ready(user)).rotate(conv);
  }

  // A `devices` event: fetch the user's devices again, and tell the person when one is new.
  async devicesChanged(me: string, user: string, convsWithUser: string[]) {
    const device = await this.ready(me);
    device.forget(user);
    const before = this.knownDevices.get(user);
    const now = new Set(await device.deviceNames(user));
    this.knownDevices.set(user, now);
    // A device gone (or, without a list from before, perhaps gone): new sender keys in every
    // encrypted conversation with that user, so it cannot read what follows. Cheap: the next
    // message carries key boxes for each device again.
    const removed = before ? [...before].some((d) => !now.has(d)) : true;
    if (removed) for (const conv of convsWithUser) device.rotate(conv);
    if (user === me || !before) return;
    const added = [...now].filter((d) => !before.has(d));
    if (!added.length) return;
    this.notices = [...this.notices.filter((n) => n.user !== user), { user, added }];
    this.changed();
  }

  // The devices of the people one talks to, as first seen (the baseline for "a new device").
  async remember(me: string, users: string[]) {
    const device = await this.ready(me);
    for (const u of users) {
      if (!this.knownDevices.has(u)) this.knownDevices.set(u, new Set(await device.deviceNames(u)));
    }
  }

  dismiss(user: string) {
    this.notices = this.notices.filter((n) => n.user !== user);
    this.changed();
  }

  async safetyNumber(me: string, peer: string): Promise<string> {
    return (await this.ready(me)).safetyNumber(peer);
  }
}

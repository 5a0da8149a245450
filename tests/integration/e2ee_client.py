"""The reference client of Parley's end-to-end encryption (docs/security.md, "End-to-end
encrypted conversations"; the wire shapes are in docs/protocol.md §11).

A `Device` is one device of one user: its own keys, the sender keys it made and the ones it was
given. It talks to a real server through the suite's `Server` helper (REST for the key
directory, the conversation's messages as they arrive). It uses only libsodium primitives
(PyNaCl): Ed25519 signatures, X25519, BLAKE2b, XChaCha20-Poly1305-IETF.

The protocol, in short:
- A device publishes an Ed25519 identity key, an X25519 key signed by it, a signed prekey and
  one-time prekeys. Clients verify every signature; the server is not trusted with keys.
- Each device encrypts its messages in a conversation under its own *sender key* (32 random
  bytes, with an id), once per message, and signs each ciphertext with its identity key so that
  other members, who hold the sender key, cannot forge it.
- A sender key reaches each member device in a *key box* riding on a message: an X3DH-style
  agreement (the sender's X25519 key and an ephemeral key against the recipient's X25519 key,
  signed prekey and, when the directory had one, one-time prekey), hashed with BLAKE2b into an
  XChaCha20-Poly1305 key. A message carries boxes only for the devices that do not yet hold
  its key.
- A member leaving or a device removed makes every remaining device start a new sender key,
  given only to the devices still there.
"""
import base64
import json
import os

import nacl.bindings as sodium
import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.signing
from nacl.public import PrivateKey

VERSION = "parley-e2ee-v1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def blake2b(data: bytes) -> bytes:
    return nacl.hash.blake2b(data, digest_size=32, encoder=nacl.encoding.RawEncoder)


def dh_statement(dh_key: str) -> bytes:
    return f"{VERSION}|dh|{dh_key}".encode()


def spk_statement(spk_id: int, key: str) -> bytes:
    return f"{VERSION}|spk|{spk_id}|{key}".encode()


def message_statement(conv, key_id, nonce, ct) -> bytes:
    return f"{VERSION}|msg|{conv}|{key_id}|{nonce}|{ct}".encode()


def message_ad(conv, user, device, key_id) -> bytes:
    return f"{VERSION}|msg|{conv}|{user}|{device}|{key_id}".encode()


def box_ad(conv, from_user, from_device, to_user, to_device) -> bytes:
    return f"{VERSION}|box|{conv}|{from_user}|{from_device}|{to_user}|{to_device}".encode()


def safety_number(user_a, identity_keys_a, user_b, identity_keys_b) -> str:
    """60 digits two people compare: 30 for each user, from the identity keys of all their
    devices, in username order (so both compute the same number)."""
    def half(user, keys):
        digest = blake2b(f"{VERSION}|safety|{user}|{','.join(sorted(keys))}".encode())
        return "".join(f"{int.from_bytes(digest[i * 5:i * 5 + 5], 'big') % 100000:05d}" for i in range(6))
    pair = sorted([(user_a, identity_keys_a), (user_b, identity_keys_b)])
    return half(*pair[0]) + half(*pair[1])


class CannotDecrypt(Exception):
    """The device has no key for the message, or the message does not verify."""


class Device:
    def __init__(self, server, username, device_id, one_time=8):
        self.server, self.user, self.id = server, username, device_id
        self.token = server.login(username)["token"]
        self.identity = nacl.signing.SigningKey.generate()
        self.dh = PrivateKey.generate()
        self.spk_id, self.spk = 1, PrivateKey.generate()
        self.one_time = {}
        self._next_one_time = 1
        self.sender_keys = {}     # conv -> {"id", "key", "holders": {(user, device)}}
        self.received = {}        # (conv, user, device, key_id) -> key
        self.directory = {}       # username -> {device: its directory record}
        self.unsent = {}          # envelope -> (conv, the devices its key boxes are for)
        self.publish(one_time)

    # ---- the key directory

    def api(self, method, path, body=None, expect=200):
        """A request as this device. A send or edit the server accepted delivers the key boxes of
        its envelope: their devices hold the sender key from then on (one that was refused
        delivered nothing, so the next envelope carries the boxes again)."""
        answer = self.server.api(method, path, body, token=self.token, expect=expect)
        pending = self.unsent.pop((body or {}).get("message"), None)
        if pending:
            conv, devices = pending
            if conv in self.sender_keys:
                self.sender_keys[conv]["holders"] |= devices
        return answer

    @property
    def identity_key(self):
        return b64(bytes(self.identity.verify_key))

    def publish(self, one_time):
        dh_key, spk_key = b64(bytes(self.dh.public_key)), b64(bytes(self.spk.public_key))
        status, answer, _ = self.server.request("PUT", f"/keys/devices/{self.id}", {
            "identity_key": self.identity_key,
            "dh_key": dh_key,
            "dh_signature": b64(self.identity.sign(dh_statement(dh_key)).signature),
            "signed_prekey": {"id": self.spk_id, "key": spk_key,
                              "signature": b64(self.identity.sign(spk_statement(self.spk_id, spk_key)).signature)},
        }, token=self.token)
        assert status in (200, 201), answer
        self.add_one_time(one_time)

    def add_one_time(self, count):
        batch = []
        for _ in range(count):
            key = PrivateKey.generate()
            self.one_time[self._next_one_time] = key
            batch.append({"id": self._next_one_time, "key": b64(bytes(key.public_key))})
            self._next_one_time += 1
        return self.api("POST", f"/keys/devices/{self.id}/one-time", {"prekeys": batch})

    def fetch_devices(self, username, claim=True):
        """The user's devices, every signature checked; with claim, one one-time prekey each."""
        path = f"/keys/users/{username}" + ("" if claim else "?one_time=0")
        answer = self.api("GET", path)
        devices = {}
        for d in answer["devices"]:
            verify = nacl.signing.VerifyKey(unb64(d["identity_key"]))
            verify.verify(dh_statement(d["dh_key"]), unb64(d["dh_signature"]))
            spk = d["signed_prekey"]
            verify.verify(spk_statement(spk["id"], spk["key"]), unb64(spk["signature"]))
            devices[d["device"]] = d
        self.directory[username] = devices
        return devices

    # ---- sending

    def rotate(self, conv):
        """A new sender key for conv: the next message gives it to every current member device."""
        key_id, key = b64(os.urandom(9)), os.urandom(32)
        self.sender_keys[conv] = {"id": key_id, "key": key, "holders": {(self.user, self.id)}}
        self.received[(conv, self.user, self.id, key_id)] = key  # its own messages, read back later
        self.directory.clear()  # the new key's boxes use fresh one-time prekeys

    def forget(self, user):
        """A `devices` event for user: the next message fetches its devices again."""
        self.directory.pop(user, None)

    def encrypt(self, conv, members, text, client_msg_id="", edit=False):
        """The envelope (a JSON string, the message body) of text for the devices of members.
        An edit's envelope replaces the message's, key boxes included: it carries a box for every
        device, so that one that reads only the edited message can open it."""
        if conv not in self.sender_keys:
            self.rotate(conv)
        sk = self.sender_keys[conv]
        boxes = []
        for user in members:
            devices = self.directory.get(user)
            if devices is None or edit or any((user, d) not in sk["holders"] for d in devices):
                devices = self.fetch_devices(user)   # fresh: new devices, new one-time prekeys
            for device, record in devices.items():
                if (user, device) in sk["holders"] and not edit:
                    continue
                if (user, device) == (self.user, self.id):
                    continue
                boxes.append(self._box(conv, user, device, record, sk))
        nonce = os.urandom(24)
        plaintext = json.dumps({"text": text, "client_msg_id": client_msg_id}).encode()
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plaintext, message_ad(conv, self.user, self.id, sk["id"]), nonce, sk["key"])
        envelope = {"v": 1, "device": self.id, "key": sk["id"], "nonce": b64(nonce), "ct": b64(ct),
                    "sig": b64(self.identity.sign(message_statement(conv, sk["id"], b64(nonce), b64(ct))).signature)}
        if boxes:
            envelope["keys"] = boxes
        text = json.dumps(envelope, separators=(",", ":"))
        self.unsent[text] = (conv, {(box["user"], box["device"]) for box in boxes})
        return text

    def _box(self, conv, user, device, record, sk):
        ephemeral = PrivateKey.generate()
        their_dh, their_spk = unb64(record["dh_key"]), unb64(record["signed_prekey"]["key"])
        secret = (sodium.crypto_scalarmult(bytes(self.dh), their_spk)
                  + sodium.crypto_scalarmult(bytes(ephemeral), their_dh)
                  + sodium.crypto_scalarmult(bytes(ephemeral), their_spk))
        one_time = record.get("one_time_prekey")
        if one_time:
            secret += sodium.crypto_scalarmult(bytes(ephemeral), unb64(one_time["key"]))
            record["one_time_prekey"] = None  # used: a later box to this device goes without
        key = blake2b(f"{VERSION}|box|".encode() + secret)
        nonce = os.urandom(24)
        payload = json.dumps({"conv": conv, "key_id": sk["id"], "key": b64(sk["key"])}).encode()
        ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
            payload, box_ad(conv, self.user, self.id, user, device), nonce, key)
        box = {"user": user, "device": device, "spk": record["signed_prekey"]["id"],
               "ek": b64(bytes(ephemeral.public_key)), "nonce": b64(nonce), "ct": b64(ct)}
        if one_time:
            box["opk"] = one_time["id"]
        return box

    # ---- receiving

    def decrypt(self, msg):
        """The text of a message (a Message object from the server), or CannotDecrypt."""
        conv, sender = msg["conv"], msg["from"]
        try:
            env = json.loads(msg["body"])
        except ValueError:
            raise CannotDecrypt("not an envelope")
        record = self._sender_device(sender, env["device"])
        try:
            nacl.signing.VerifyKey(unb64(record["identity_key"])).verify(
                message_statement(conv, env["key"], env["nonce"], env["ct"]), unb64(env["sig"]))
        except nacl.exceptions.BadSignatureError:
            raise CannotDecrypt("the signature does not verify")
        slot = (conv, sender, env["device"], env["key"])
        for box in env.get("keys", []):
            if (box["user"], box["device"]) == (self.user, self.id) and slot not in self.received:
                self._open_box(conv, sender, env["device"], record, box)
        key = self.received.get(slot)
        if key is None:
            raise CannotDecrypt(f"no key {env['key']} from {sender}/{env['device']}")
        try:
            plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                unb64(env["ct"]), message_ad(conv, sender, env["device"], env["key"]), unb64(env["nonce"]), key)
        except nacl.exceptions.CryptoError:
            raise CannotDecrypt("the ciphertext does not open")
        return json.loads(plaintext)["text"]

    def _sender_device(self, user, device):
        known = self.directory.get(user) or {}
        if device not in known:
            known = self.fetch_devices(user, claim=False)
        if device not in known:
            raise CannotDecrypt(f"{user} has no device {device}")
        return known[device]

    def _open_box(self, conv, sender, sender_device, record, box):
        ephemeral, their_dh = unb64(box["ek"]), unb64(record["dh_key"])
        if box["spk"] != self.spk_id:
            raise CannotDecrypt("a box for a signed prekey this device no longer has")
        secret = (sodium.crypto_scalarmult(bytes(self.spk), their_dh)
                  + sodium.crypto_scalarmult(bytes(self.dh), ephemeral)
                  + sodium.crypto_scalarmult(bytes(self.spk), ephemeral))
        if "opk" in box:
            one_time = self.one_time.pop(box["opk"], None)   # used once, then forgotten
            if one_time is None:
                raise CannotDecrypt("a box for a one-time prekey already used")
            secret += sodium.crypto_scalarmult(bytes(one_time), ephemeral)
        key = blake2b(f"{VERSION}|box|".encode() + secret)
        try:
            payload = json.loads(sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
                unb64(box["ct"]), box_ad(conv, sender, sender_device, self.user, self.id), unb64(box["nonce"]), key))
        except nacl.exceptions.CryptoError:
            raise CannotDecrypt("a key box that does not open")
        if payload["conv"] != conv:
            raise CannotDecrypt("a key box for another conversation")
        self.received[(conv, sender, sender_device, payload["key_id"])] = unb64(payload["key"])

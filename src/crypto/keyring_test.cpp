#include "crypto/keyring.hpp"

#include <gtest/gtest.h>

#include <map>

#include "crypto/key_manager.hpp"
#include "crypto/message_sealer.hpp"
#include "crypto/text_cipher.hpp"

namespace parley::crypto {
namespace {

// Keys in memory, as a database would keep them.
class MemoryKeyCatalog final : public KeyCatalog {
 public:
  Result<std::vector<WrappedKey>> keys(std::string_view purpose) override {
    std::vector<WrappedKey> out;
    for (const auto& [id, k] : keys_) {
      if (k.purpose == purpose) out.push_back(k);
    }
    return out;
  }
  Result<bool> add_key(const WrappedKey& key) override {
    return keys_.try_emplace(key.id, key).second;
  }
  Result<std::optional<std::string>> value(std::string_view name) override {
    auto it = values_.find(std::string(name));
    if (it == values_.end()) return std::optional<std::string>();
    return std::optional<std::string>(it->second);
  }
  Status set_value(std::string_view name, std::string_view value) override {
    values_[std::string(name)] = std::string(value);
    return ok_status();
  }

 private:
  std::map<std::uint32_t, WrappedKey> keys_;
  std::map<std::string, std::string> values_;
};

TEST(MasterKey, ParsesHexAndBase64AndRefusesAnythingElse) {
  std::string hex_text(64, 'a');
  hex_text += '\n';
  const auto hex = parse_master_key(hex_text);
  ASSERT_TRUE(hex.ok());
  EXPECT_EQ(hex->data()[0], 0xaa);
  const auto key = SecretKey::random();
  const auto b64 = parse_master_key(" " + format_master_key(key) + "\n");
  ASSERT_TRUE(b64.ok());
  EXPECT_EQ(b64->fingerprint(), key.fingerprint());
  EXPECT_NE(parse_master_key("c2hvcnQ=").error().message.find("exactly 32 bytes"),
            std::string::npos);
  EXPECT_FALSE(parse_master_key("not a key at all").ok());
  std::string bad_hex(64, 'a');
  bad_hex.back() = 'g';
  EXPECT_FALSE(parse_master_key(bad_hex).ok());
}

TEST(WrappedKeys, UnwrapOnlyWithTheSameMasterKeyIdAndPurpose) {
  const auto master = SecretKey::random();
  const auto data = SecretKey::random();
  const auto wrapped = wrap_key(master, 3, "data", data);
  auto back = unwrap_key(master, 3, "data", wrapped);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->fingerprint(), data.fingerprint());
  EXPECT_EQ(unwrap_key(SecretKey::random(), 3, "data", wrapped).error().code, Errc::bad_ciphertext);
  EXPECT_FALSE(unwrap_key(master, 4, "data", wrapped).ok());
  EXPECT_FALSE(unwrap_key(master, 3, "token", wrapped).ok());
  EXPECT_FALSE(unwrap_key(master, 3, "data", wrapped.substr(1)).ok());
}

TEST(Keyring, SealsWithTheCurrentKeyAndOpensWithEveryKeyItHas) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  const auto old = ring.seal("hello", "ctx");
  EXPECT_EQ(Keyring::key_of(old), 1u);
  ring.add(2, SecretKey::random());
  EXPECT_EQ(ring.current(), 1u) << "a key added later seals only once made current";
  ring.make_current(2);
  const auto fresh = ring.seal("world", "ctx");
  EXPECT_EQ(Keyring::key_of(fresh), 2u);
  EXPECT_EQ(*ring.open(old, "ctx"), "hello");
  EXPECT_EQ(*ring.open(fresh, "ctx"), "world");
  EXPECT_NE(ring.seal("world", "ctx"), fresh) << "a fresh nonce each time";
}

TEST(Keyring, RefusesAnotherContextTamperingTruncationAndUnknownKeys) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  const auto sealed = ring.seal("secret", "conv-a|msg-1");
  EXPECT_EQ(ring.open(sealed, "conv-b|msg-1").error().code, Errc::bad_ciphertext);
  std::string tampered = sealed;
  tampered[tampered.size() - 3] = tampered[tampered.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(ring.open(tampered, "conv-a|msg-1").ok());
  EXPECT_FALSE(ring.open(sealed.substr(0, sealed.size() - 4), "conv-a|msg-1").ok());
  EXPECT_FALSE(ring.open("k1.", "conv-a|msg-1").ok());
  EXPECT_FALSE(ring.open("k9" + sealed.substr(2), "conv-a|msg-1").ok());
  EXPECT_FALSE(ring.open("plaintext", "conv-a|msg-1").ok());
  // The key id is bound too: the same ciphertext under another number does not open.
  ring.add(2, SecretKey::random());
  EXPECT_FALSE(ring.open("k2" + sealed.substr(2), "conv-a|msg-1").ok());
}

chat::NewMessage new_message(std::string id, std::string body) {
  chat::NewMessage m;
  m.id = std::move(id);
  m.conv = "conv-1";
  m.body = std::move(body);
  m.attachments = R"([{"id":"f","name":"holiday.png","mime":"image/png","size":1}])";
  return m;
}

chat::Message stored(const chat::NewMessage& nm) {
  chat::Message m;
  m.id = nm.id;
  m.conv = nm.conv;
  m.body = nm.body;
  m.attachments = nm.attachments;
  return m;
}

TEST(Keyring, DerivedKeysDependOnTheDataKeyAndThePurposeOnly) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  ring.add(2, SecretKey::random());
  auto bytes = [](const SecretKey& k) { return std::string(reinterpret_cast<const char*>(k.data()), kKeyBytes); };
  const auto a = ring.derive(1, "access token signing");
  ASSERT_TRUE(a);
  EXPECT_EQ(bytes(*a), bytes(*ring.derive(1, "access token signing")));
  EXPECT_NE(bytes(*a), bytes(*ring.derive(2, "access token signing")));
  EXPECT_NE(bytes(*a), bytes(*ring.derive(1, "something else")));
  EXPECT_FALSE(ring.derive(3, "access token signing"));
}

TEST(MessageSealer, SealsBodyAndAttachmentsAndOpensThemForTheirMessageOnly) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  const MessageSealer sealer(ring, true);
  auto nm = new_message("m1", "meet at noon");
  sealer.seal(nm);
  EXPECT_TRUE(MessageSealer::is_sealed(nm.body));
  EXPECT_EQ(nm.body.find("noon"), std::string::npos);
  EXPECT_EQ(nm.attachments.find("holiday"), std::string::npos);
  auto m = stored(nm);
  ASSERT_TRUE(sealer.open(m).ok());
  EXPECT_EQ(m.body, "meet at noon");
  EXPECT_EQ(m.attachments, new_message("", "").attachments);

  auto other = stored(new_message("m2", "x"));
  other.body = nm.body;  // a sealed body copied into another message
  EXPECT_EQ(sealer.open(other).error().code, Errc::bad_ciphertext);
  auto elsewhere = stored(nm);
  elsewhere.conv = "conv-2";
  EXPECT_FALSE(sealer.open(elsewhere).ok());
}

TEST(MessageSealer, LeavesPlaintextAndEmptyFieldsAsTheyAreAndKnowsWhatNeedsResealing) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  const MessageSealer off(ring, false);
  const MessageSealer on(ring, true);
  auto nm = new_message("m1", "written before encryption");
  off.seal(nm);
  EXPECT_EQ(nm.body, "written before encryption");
  auto legacy = stored(nm);
  EXPECT_TRUE(off.is_current(legacy));
  EXPECT_FALSE(on.is_current(legacy));
  ASSERT_TRUE(on.open(legacy).ok());
  EXPECT_EQ(legacy.body, "written before encryption");

  ASSERT_TRUE(on.reseal(legacy).ok());
  EXPECT_TRUE(on.is_current(legacy));
  ring.add(2, SecretKey::random());
  ring.make_current(2);
  EXPECT_FALSE(on.is_current(legacy)) << "sealed under a key no longer current";
  ASSERT_TRUE(on.reseal(legacy).ok());
  EXPECT_TRUE(on.is_current(legacy));
  ASSERT_TRUE(on.open(legacy).ok());
  EXPECT_EQ(legacy.body, "written before encryption");

  auto tombstone = stored(new_message("m3", ""));
  tombstone.attachments.clear();
  EXPECT_TRUE(on.is_current(tombstone));
  EXPECT_EQ(on.seal_body("conv-1", "m3", ""), "");
}

TEST(TextCipher, OpensOnlyForItsBindingAndNamesItWithoutOpening) {
  Keyring ring;
  ring.add(1, SecretKey::random());
  const TextCipher cipher(ring);
  const TextBinding alice{TextBinding::Kind::user, 42, {}};
  const TextBinding team{TextBinding::Kind::conv, 0, "0190f7e2-0000-7000-8000-000000000001"};
  const auto for_alice = cipher.seal(alice, "hello");
  const auto for_team = cipher.seal(team, "hello");
  EXPECT_TRUE(for_alice.starts_with("u42.k1."));
  EXPECT_TRUE(for_team.starts_with("c" + team.conv + ".k1."));
  EXPECT_EQ(cipher.open(for_alice).value(), "hello");
  EXPECT_EQ(cipher.open(for_team).value(), "hello");
  EXPECT_EQ(TextCipher::binding_of(for_alice).value().user, 42);
  EXPECT_EQ(TextCipher::binding_of(for_team).value().conv, team.conv);
  EXPECT_EQ(TextCipher::key_of(for_team), 1u);

  // Relabelled to another user or conversation: the associated data no longer matches.
  auto relabelled = for_alice;
  relabelled.replace(0, 3, "u43");
  EXPECT_EQ(cipher.open(relabelled).error().code, Errc::bad_ciphertext);
  EXPECT_EQ(cipher.open("c" + team.conv.substr(0, 35) + "2" + for_team.substr(1 + team.conv.size()))
                .error()
                .code,
            Errc::bad_ciphertext);
  for (std::string_view bad : {"", "hello", "u42", "u42.", "u0.k1.AAAA", "u-1.k1.AAAA",
                               "ux.k1.AAAA", "z1.k1.AAAA", "u42.kx.AAAA"}) {
    EXPECT_EQ(TextCipher::binding_of(bad).error().code, Errc::bad_ciphertext) << bad;
    EXPECT_FALSE(cipher.open(bad).ok()) << bad;
  }

  // After a rotation old ciphertexts still open; new ones use the new key.
  ring.add(2, SecretKey::random());
  ring.make_current(2);
  EXPECT_EQ(cipher.open(for_alice).value(), "hello");
  EXPECT_EQ(TextCipher::key_of(cipher.seal(alice, "x")), 2u);

  // The size bound covers the longest label.
  const std::string text(1000, 'x');
  EXPECT_LE(cipher.seal(team, text).size(), TextCipher::max_sealed_size(text.size()));
  const TextBinding big_user{TextBinding::Kind::user, INT64_MAX, {}};
  EXPECT_LE(cipher.seal(big_user, text).size(), TextCipher::max_sealed_size(text.size()));
}

TEST(KeyManager, CreatesKeyOneAndRefusesAWrongMasterKey) {
  MemoryKeyCatalog catalog;
  ManualClock clock(1'790'000'000'000);
  const auto master = SecretKey::random();
  KeyManager first(catalog, master, clock, std::chrono::seconds(60));
  ASSERT_TRUE(first.load(true).ok());
  EXPECT_EQ(first.data_keys().current(), 1u);
  const auto sealed = first.data_keys().seal("hi", "c");

  KeyManager again(catalog, master, clock, std::chrono::seconds(60));
  ASSERT_TRUE(again.load(true).ok());
  EXPECT_EQ(*again.data_keys().open(sealed, "c"), "hi") << "the same key, read back";
  EXPECT_EQ(catalog.keys(kDataKeyPurpose)->size(), 1u);

  KeyManager wrong(catalog, SecretKey::random(), clock, std::chrono::seconds(60));
  const auto refused = wrong.load(true);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::bad_ciphertext);
  EXPECT_NE(refused.error().message.find("does not open data key 1"), std::string::npos);
}

TEST(KeyManager, ARotatedKeyOpensAtOnceEverywhereAndSealsOnlyOnceItIsOldEnough) {
  MemoryKeyCatalog catalog;
  ManualClock clock(1'790'000'000'000);
  const auto master = SecretKey::random();
  KeyManager node(catalog, master, clock, std::chrono::seconds(60));
  ASSERT_TRUE(node.load(true).ok());
  KeyManager command(catalog, master, clock, std::chrono::seconds(60));
  ASSERT_TRUE(command.load(false).ok());
  EXPECT_EQ(*command.rotate(), 2u);

  ASSERT_TRUE(node.refresh().ok());
  EXPECT_TRUE(node.data_keys().has(2));
  EXPECT_EQ(node.data_keys().current(), 1u) << "another node may not have key 2 yet";
  clock.advance(60'000);
  ASSERT_TRUE(node.refresh().ok());
  EXPECT_EQ(node.data_keys().current(), 2u);
  EXPECT_EQ(*command.rotate(), 3u);
}

}  // namespace
}  // namespace parley::crypto

#pragma once
// Rewrap: moves stored messages to the current data key — after `parley keys rotate`, and for a
// store written without --encrypt-at-rest (its plaintext bodies get sealed) — in batches, while
// the node serves (docs/security.md, "Key management").
//
// A pass reads every stored message in id order and reseals those whose fields are not in the
// current form (MessageSealer::is_current), replacing each only if it did not change meanwhile
// (an edit wins: it was sealed under the current key anyway). A pass that found nothing to do
// ends the job for that key, recorded in the key catalog ("rewrap_done") so the next start does
// not scan again; a pass that resealed something is followed by another, which also catches the
// messages the writer had not yet moved into the database. A message that does not open is
// logged (event=rewrap_unreadable) and left as it is.
//
// After the messages, the same pass walks the stored files (FileService::reseal: the name in the
// catalog, the bytes in storage), when the node has file sharing.
//
// Every node runs its own job (store/… updates are conditional, so two never undo each other).
// Threads: one at a time (housekeeping, on the blocking pool); every call is [blocking].

#include <chrono>
#include <cstdint>
#include <string>

#include "core/result.hpp"
#include "crypto/message_sealer.hpp"
#include "service/file_service.hpp"
#include "store/key_catalog.hpp"
#include "store/store.hpp"

namespace parley {

class Rewrap {
 public:
  // files (optional): reseal the stored files too.
  Rewrap(Store& store, const crypto::MessageSealer& sealer, const crypto::Keyring& keys,
         KeyCatalog& catalog, int batch = 500, FileService* files = nullptr);

  // Works for up to `budget` (at least one batch) unless there is nothing to do. Returns
  // whether work remains.
  Result<bool> run(std::chrono::milliseconds budget);
  // Nothing to do: every message was found sealed under the current key (or sealing is off).
  bool idle();

 private:
  Result<bool> step();  // one batch; false when the job is done
  Result<bool> step_files();
  void finish_pass();

  Store& store_;
  const crypto::MessageSealer& sealer_;
  const crypto::Keyring& keys_;
  KeyCatalog& catalog_;
  const int batch_;
  FileService* const files_;
  std::uint32_t done_key_ = 0;  // the key the last complete pass found everything under
  bool done_key_read_ = false;
  std::uint32_t pass_key_ = 0;  // the key of the pass under way (0: none)
  bool in_files_ = false;       // the pass is past the messages, at the files
  std::string cursor_;          // the last id the pass read (of a message, then of a file)
  std::int64_t resealed_ = 0;   // in this pass
  std::int64_t unreadable_ = 0;
};

}  // namespace parley

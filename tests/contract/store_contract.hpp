#pragma once
// The Store contract: every Store implementation must pass these tests. An implementation's own
// test file instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreContract, ::testing::Values(StoreFactory{...}));
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "store/store.hpp"

namespace parley::testing {

struct StoreFactory {
  std::string name;
  // Makes an empty store; the returned object owns whatever the store needs (files, servers).
  std::function<std::shared_ptr<Store>()> make;
};

class StoreContract : public ::testing::TestWithParam<StoreFactory> {};

}  // namespace parley::testing

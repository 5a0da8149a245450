// The signer against AWS's published examples: the S3 developer guide's header-signed GET and
// pre-signed URL ("Signature Calculations for the Authorization Header", "Query string request
// authentication"), and the SigV4 test suite's get-vanilla.
#include "files/s3/sigv4.hpp"

#include <gtest/gtest.h>

namespace parley::files::sigv4 {
namespace {

const Credentials kS3Example{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                             "us-east-1", "s3"};
const std::string kEmptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

TEST(SigV4, TheS3GuidesHeaderSignedGet) {
  Request r{"GET", "/test.txt", {},
            {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"},
             {"x-amz-content-sha256", kEmptyHash}, {"x-amz-date", "20130524T000000Z"}},
            kEmptyHash};
  EXPECT_EQ(authorization(kS3Example, r, "20130524T000000Z"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, TheS3GuidesPresignedUrl) {
  Request r{"GET", "/test.txt", {}, {{"Host", "examplebucket.s3.amazonaws.com"}}, ""};
  const auto q = presigned_query(kS3Example, r, "20130524T000000Z", 86400);
  EXPECT_EQ(q.substr(q.find("X-Amz-Signature=")),
            "X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
  EXPECT_NE(q.find("X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"),
            std::string::npos);
}

TEST(SigV4, TheTestSuitesGetVanilla) {
  const Credentials c{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1",
                      "service"};
  Request r{"GET", "/", {}, {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}},
            kEmptyHash};
  EXPECT_EQ(canonical_request(r),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n" + kEmptyHash);
  EXPECT_EQ(authorization(c, r, "20150830T123600Z"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,"
            "SignedHeaders=host;x-amz-date,"
            "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, EncodingAndQueryOrder) {
  EXPECT_EQ(percent_encode("a b/c~d*"), "a%20b%2Fc~d%2A");
  EXPECT_EQ(percent_encode("a b/c", false), "a%20b/c");
  Request r{"GET", "/", {{"b", "2"}, {"a", "x y"}, {"uploads", ""}}, {{"host", "h"}}, kEmptyHash};
  EXPECT_NE(canonical_request(r).find("\na=x%20y&b=2&uploads=\n"), std::string::npos);
  EXPECT_EQ(amz_date(1'369'353'600'000), "20130524T000000Z");
}

}  // namespace
}  // namespace parley::files::sigv4

#include "api/files/multipart.hpp"

#include <gtest/gtest.h>

namespace parley::api {
namespace {

const std::string kBody =
    "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot the file\r\n"
    "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a \\\"b\\\".png\"\r\n"
    "Content-Type: image/png\r\n\r\nline1\r\n--XyYnot-a-boundary\r\n--Xy\r\nend\r\n--XyZ--\r\nepilogue";
const std::string kFileBytes = "line1\r\n--XyYnot-a-boundary\r\n--Xy\r\nend";

std::string read_in_pieces(const std::string& body, std::size_t piece, MultipartReader& reader) {
  for (std::size_t i = 0; i < body.size(); i += piece) {
    EXPECT_TRUE(reader.feed(std::string_view(body).substr(i, piece))) << reader.error();
  }
  EXPECT_TRUE(reader.finish()) << reader.error();
  return reader.filename();
}

TEST(Multipart, TheFilePartsBytesComeOutWhateverThePiecesTheBodyArrivesIn) {
  for (std::size_t piece : {1u, 2u, 3u, 7u, 16u, 1000u}) {
    std::string got;
    MultipartReader reader("XyZ", [&](std::string_view b) { got += b; });
    EXPECT_EQ(read_in_pieces(kBody, piece, reader), "a \"b\".png") << piece;
    EXPECT_EQ(got, kFileBytes) << piece;
  }
}

TEST(Multipart, BoundaryFromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; charset=x; boundary=\"a b\""), "a b");
  EXPECT_FALSE(multipart_boundary("application/octet-stream"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data"));
  EXPECT_FALSE(multipart_boundary("multipart/form-data; boundary=" + std::string(71, 'x')));
}

TEST(Multipart, AnRfc5987FilenameWinsOverThePlainOne) {
  std::string got;
  MultipartReader reader("b", [&](std::string_view x) { got += x; });
  read_in_pieces("--b\r\nContent-Disposition: form-data; name=file; filename=\"fallback.txt\"; "
                 "filename*=UTF-8''caf%C3%A9.txt\r\n\r\nx\r\n--b--", 5, reader);
  EXPECT_EQ(reader.filename(), "caf\xC3\xA9.txt");
  EXPECT_EQ(got, "x");
}

TEST(Multipart, MalformedBodiesAreRefusedWithAReason) {
  auto error_of = [](const std::string& body) {
    MultipartReader reader("b", [](std::string_view) {});
    if (reader.feed(body) && reader.finish()) return std::string();
    return reader.error();
  };
  EXPECT_NE(error_of("--b\r\nno colon here\r\n\r\nx\r\n--b--"), "");
  EXPECT_NE(error_of("--b\r\nContent-Disposition: form-data; name=file\r\n\r\nx"), "");  // no end
  EXPECT_NE(error_of("--b\r\nContent-Disposition: form-data; name=other\r\n\r\nx\r\n--b--"), "");
  EXPECT_NE(error_of("--bX\r\n"), "");
  EXPECT_NE(error_of("--b\r\nContent-Disposition: form-data; name=file\r\n\r\nx\r\n--b\r\n"
                     "Content-Disposition: form-data; name=file\r\n\r\ny\r\n--b--"),
            "");  // two files
  EXPECT_NE(error_of("--b\r\n" + std::string(9000, 'h')), "");  // headers without end
  EXPECT_EQ(error_of("--b\r\nContent-Disposition: form-data; name=file\r\n\r\n\r\n--b--"), "");
}

}  // namespace
}  // namespace parley::api

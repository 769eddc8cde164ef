// AMF0: known bytes, every type round trips, depth and truncation limits.
#include <gtest/gtest.h>

#include "rtmp/amf0.h"

using namespace live;
using namespace live::rtmp;

TEST(Amf0, KnownBytes) {
  std::vector<uint8_t> out;
  amf0_encode(AmfValue::make_number(1.0), out);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0}));
  out.clear();
  amf0_encode(AmfValue::make_string("connect"), out);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't'}));
  out.clear();
  amf0_encode(AmfValue::make_object({{"a", AmfValue::make_boolean(true)}}), out);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x03, 0x00, 0x01, 'a', 0x01, 0x01, 0x00, 0x00, 0x09}));
  out.clear();
  amf0_encode(AmfValue::make_ecma_array({{"x", AmfValue::make_null()}}), out);
  EXPECT_EQ(out, (std::vector<uint8_t>{0x08, 0, 0, 0, 1, 0x00, 0x01, 'x', 0x05, 0x00, 0x00, 0x09}));
}

TEST(Amf0, DecodesConnectLikePayload) {
  const std::vector<uint8_t> bytes{0x02, 0x00, 0x07, 'c', 'o', 'n', 'n', 'e', 'c', 't', 0x00, 0x3f, 0xf0, 0, 0, 0, 0,
                                   0, 0, 0x03, 0x00, 0x03, 'a', 'p', 'p', 0x02, 0x00, 0x04, 'l', 'i', 'v', 'e', 0x00,
                                   0x00, 0x09};
  auto values = amf0_decode_all(bytes);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 3u);
  EXPECT_EQ((*values)[0].string, "connect");
  EXPECT_EQ((*values)[1].number, 1.0);
  EXPECT_EQ((*values)[2].string_property("app"), "live");
}

TEST(Amf0, EveryTypeRoundTrips) {
  AmfValue date;
  date.type = AmfType::date;
  date.number = 1700000000000.0;
  date.timezone = -60;
  AmfValue ref;
  ref.type = AmfType::reference;
  ref.reference = 7;
  AmfValue long_string;
  long_string.type = AmfType::long_string;
  long_string.string = std::string(70000, 'L');
  AmfValue short_long;
  short_long.type = AmfType::long_string;
  short_long.string = "short but long-typed";
  AmfValue xml;
  xml.type = AmfType::xml_document;
  xml.string = "<a/>";
  AmfValue unsupported;
  unsupported.type = AmfType::unsupported;
  AmfValue strict;
  strict.type = AmfType::strict_array;
  strict.elements = {AmfValue::make_number(-2.5), AmfValue::make_string("s"), AmfValue::make_undefined()};
  AmfValue typed;
  typed.type = AmfType::typed_object;
  typed.string = "flash.Point";
  typed.properties = {{"x", AmfValue::make_number(3)}, {"y", AmfValue::make_number(4)}};
  const std::vector<AmfValue> values{
      AmfValue::make_number(0),   AmfValue::make_number(-1e300), AmfValue::make_boolean(false),
      AmfValue::make_boolean(true), AmfValue::make_string(""),    AmfValue::make_string("héllo"),
      AmfValue::make_null(),      AmfValue::make_undefined(),    ref,
      date,                       long_string,                   short_long,
      xml,                        unsupported,                   strict,
      typed,
      AmfValue::make_object({{"nested", AmfValue::make_object({{"deep", AmfValue::make_ecma_array({{"k", strict}})}})},
                             {"", AmfValue::make_string("empty name")}}),
  };
  const auto bytes = amf0_encode_all(values);
  auto decoded = amf0_decode_all(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.error().describe();
  ASSERT_EQ(decoded->size(), values.size());
  for (size_t i = 0; i < values.size(); ++i) EXPECT_TRUE((*decoded)[i] == values[i]) << "value " << i;
  // Re-encoding gives the same bytes.
  EXPECT_EQ(amf0_encode_all(*decoded), bytes);
}

TEST(Amf0, DepthLimit) {
  // 100 nested objects.
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 100; ++i) bytes.insert(bytes.end(), {0x03, 0x00, 0x01, 'o'});
  bytes.push_back(0x05);
  for (int i = 0; i < 100; ++i) bytes.insert(bytes.end(), {0x00, 0x00, 0x09});
  auto deep = amf0_decode_all(bytes, 32);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Errc::limit_exceeded);
  auto allowed = amf0_decode_all(bytes, 101);
  ASSERT_TRUE(allowed.ok());
  // Strict arrays count too.
  std::vector<uint8_t> arrays;
  for (int i = 0; i < 1000; ++i) arrays.insert(arrays.end(), {0x0a, 0, 0, 0, 1});
  arrays.push_back(0x05);
  auto deep_arrays = amf0_decode_all(arrays);
  ASSERT_FALSE(deep_arrays.ok());
  EXPECT_EQ(deep_arrays.error().code, Errc::limit_exceeded);
}

TEST(Amf0, ValueBudgetIsSharedAcrossValues) {
  // {a: 1, b: "x"} is three values; then a strict array of two numbers is three more.
  const std::vector<AmfValue> values{
      AmfValue::make_object({{"a", AmfValue::make_number(1)}, {"b", AmfValue::make_string("x")}}),
      [] {
        AmfValue a;
        a.type = AmfType::strict_array;
        a.elements = {AmfValue::make_number(2), AmfValue::make_number(3)};
        return a;
      }()};
  const auto bytes = amf0_encode_all(values);
  ByteReader r(bytes);
  uint32_t budget = 5;
  auto first = amf0_decode(r, 8, budget);
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_TRUE(*first == values[0]);
  EXPECT_EQ(budget, 2u);
  // Two left: the array takes one and announces two elements.
  auto second = amf0_decode(r, 8, budget);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::limit_exceeded);
  // With enough budget the same bytes decode, and exactly six values are spent.
  ByteReader again(bytes);
  budget = 6;
  ASSERT_TRUE(amf0_decode(again, 8, budget).ok());
  auto array = amf0_decode(again, 8, budget);
  ASSERT_TRUE(array.ok()) << array.error().describe();
  EXPECT_TRUE(*array == values[1]);
  EXPECT_EQ(budget, 0u);
  EXPECT_TRUE(again.empty());
}

TEST(Amf0, BadInput) {
  struct Case {
    std::vector<uint8_t> bytes;
    Errc code;
  };
  const Case cases[] = {
      {{0x00, 0x3f}, Errc::truncated},                          // number cut short
      {{0x02, 0x00, 0x05, 'a'}, Errc::truncated},               // string longer than input
      {{0x03, 0x00, 0x01, 'a'}, Errc::truncated},               // object without value/end
      {{0x0a, 0xff, 0xff, 0xff, 0xff}, Errc::truncated},        // huge strict array count
      {{0x0c, 0xff, 0xff, 0xff, 0xff, 'x'}, Errc::truncated},   // huge long string
      {{0x11, 0x06, 0x03, 'a'}, Errc::unsupported},             // AMF3 switch
      {{0x04}, Errc::unsupported},                              // movieclip (reserved)
      {{0x09}, Errc::malformed},                                // object end outside an object
      {{0x42}, Errc::malformed},                                // unknown marker
  };
  for (const auto& c : cases) {
    auto r = amf0_decode_all(c.bytes);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, c.code) << r.error().describe();
  }
}

// AMF0 (Action Message Format 0): the encoding of RTMP commands and data messages.
// Every type of the AMF0 specification decodes and encodes; the AMF3 switch marker is
// reported as unsupported. Decoding is bounded by a nesting depth limit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_io.h"
#include "common/result.h"

namespace live::rtmp {

enum class AmfType : uint8_t {
  number = 0x00,
  boolean = 0x01,
  string = 0x02,
  object = 0x03,
  null = 0x05,
  undefined = 0x06,
  reference = 0x07,
  ecma_array = 0x08,
  strict_array = 0x0a,
  date = 0x0b,
  long_string = 0x0c,
  unsupported = 0x0d,
  xml_document = 0x0f,
  typed_object = 0x10,
};

// Markers that are not values of their own.
inline constexpr uint8_t amf0_object_end_marker = 0x09;
inline constexpr uint8_t amf0_movieclip_marker = 0x04;   // reserved by the spec
inline constexpr uint8_t amf0_recordset_marker = 0x0e;   // reserved by the spec
inline constexpr uint8_t amf0_avmplus_marker = 0x11;     // switch to AMF3

inline constexpr uint32_t default_max_amf_depth = 32;

struct AmfProperty;

struct AmfValue {
  AmfType type = AmfType::null;
  double number = 0;         // number; date (ms since epoch)
  bool boolean = false;
  std::string string;        // string, long_string, xml_document; typed_object class name
  std::vector<AmfProperty> properties;  // object, ecma_array, typed_object (in wire order)
  std::vector<AmfValue> elements;       // strict_array
  uint16_t reference = 0;    // reference index
  int16_t timezone = 0;      // date

  static AmfValue make_number(double v);
  static AmfValue make_boolean(bool v);
  // Strings longer than 65535 bytes become long strings when encoded.
  static AmfValue make_string(std::string v);
  static AmfValue make_null();
  static AmfValue make_undefined();
  static AmfValue make_object(std::vector<AmfProperty> props);
  static AmfValue make_ecma_array(std::vector<AmfProperty> props);

  bool is_string() const { return type == AmfType::string || type == AmfType::long_string; }
  bool is_object_like() const {
    return type == AmfType::object || type == AmfType::ecma_array || type == AmfType::typed_object;
  }
  // First property of that name in an object-like value, or nullptr.
  const AmfValue* find(std::string_view name) const;
  // Convenience lookups that return empty/nullopt when missing or of another type.
  std::string string_property(std::string_view name) const;
  std::optional<double> number_property(std::string_view name) const;

  bool operator==(const AmfValue& other) const;
};

struct AmfProperty {
  std::string name;
  AmfValue value;
  bool operator==(const AmfProperty& other) const { return name == other.name && value == other.value; }
};

// Decodes one value from `reader`. `depth_limit` bounds nesting of objects and arrays.
Result<AmfValue> amf0_decode(ByteReader& reader, uint32_t depth_limit = default_max_amf_depth);
// As above, and every value decoded (at any level) takes one from `value_budget`; running out,
// or a strict array announcing more elements than are left, is limit_exceeded. Callers that
// decode several values against one limit (e.g. an FLV script tag) share the budget.
Result<AmfValue> amf0_decode(ByteReader& reader, uint32_t depth_limit, uint32_t& value_budget);
// Decodes values until the input ends.
Result<std::vector<AmfValue>> amf0_decode_all(std::span<const uint8_t> data,
                                              uint32_t depth_limit = default_max_amf_depth);

void amf0_encode(const AmfValue& value, std::vector<uint8_t>& out);
std::vector<uint8_t> amf0_encode_all(std::span<const AmfValue> values);

}  // namespace live::rtmp

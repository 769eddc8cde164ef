#include "rtmp/amf0.h"

#include <bit>
#include <cstring>

namespace live::rtmp {

AmfValue AmfValue::make_number(double v) {
  AmfValue a;
  a.type = AmfType::number;
  a.number = v;
  return a;
}

AmfValue AmfValue::make_boolean(bool v) {
  AmfValue a;
  a.type = AmfType::boolean;
  a.boolean = v;
  return a;
}

AmfValue AmfValue::make_string(std::string v) {
  AmfValue a;
  a.type = AmfType::string;
  a.string = std::move(v);
  return a;
}

AmfValue AmfValue::make_null() { return AmfValue(); }

AmfValue AmfValue::make_undefined() {
  AmfValue a;
  a.type = AmfType::undefined;
  return a;
}

AmfValue AmfValue::make_object(std::vector<AmfProperty> props) {
  AmfValue a;
  a.type = AmfType::object;
  a.properties = std::move(props);
  return a;
}

AmfValue AmfValue::make_ecma_array(std::vector<AmfProperty> props) {
  AmfValue a;
  a.type = AmfType::ecma_array;
  a.properties = std::move(props);
  return a;
}

const AmfValue* AmfValue::find(std::string_view name) const {
  if (!is_object_like()) return nullptr;
  for (const auto& p : properties) {
    if (p.name == name) return &p.value;
  }
  return nullptr;
}

std::string AmfValue::string_property(std::string_view name) const {
  const AmfValue* v = find(name);
  return (v && v->is_string()) ? v->string : std::string();
}

std::optional<double> AmfValue::number_property(std::string_view name) const {
  const AmfValue* v = find(name);
  if (v && v->type == AmfType::number) return v->number;
  return std::nullopt;
}

bool AmfValue::operator==(const AmfValue& o) const {
  if (type != o.type) return false;
  switch (type) {
    case AmfType::number: return std::bit_cast<uint64_t>(number) == std::bit_cast<uint64_t>(o.number);
    case AmfType::boolean: return boolean == o.boolean;
    case AmfType::string:
    case AmfType::long_string:
    case AmfType::xml_document: return string == o.string;
    case AmfType::object:
    case AmfType::ecma_array: return properties == o.properties;
    case AmfType::typed_object: return string == o.string && properties == o.properties;
    case AmfType::strict_array: return elements == o.elements;
    case AmfType::date:
      return std::bit_cast<uint64_t>(number) == std::bit_cast<uint64_t>(o.number) && timezone == o.timezone;
    case AmfType::reference: return reference == o.reference;
    case AmfType::null:
    case AmfType::undefined:
    case AmfType::unsupported: return true;
  }
  return false;
}

namespace {

Error truncated(const char* what) { return make_error(Errc::truncated, std::string("AMF0 ") + what); }

bool read_double(ByteReader& r, double& v) {
  uint64_t bits;
  if (!r.read_be64(bits)) return false;
  v = std::bit_cast<double>(bits);
  return true;
}

bool read_short_string(ByteReader& r, std::string& s) {
  uint16_t len;
  return r.read_be16(len) && r.read_string(len, s);
}

bool read_long_string(ByteReader& r, std::string& s) {
  uint32_t len;
  return r.read_be32(len) && r.read_string(len, s);
}

Result<AmfValue> decode_value(ByteReader& r, uint32_t depth_left, uint32_t* budget);

// Properties up to the 00 00 09 end marker.
Result<void> decode_properties(ByteReader& r, uint32_t depth_left, uint32_t* budget,
                               std::vector<AmfProperty>& out) {
  for (;;) {
    AmfProperty prop;
    if (!read_short_string(r, prop.name)) return truncated("property name");
    if (prop.name.empty()) {
      uint8_t marker;
      if (!r.peek_u8(marker)) return truncated("object end");
      if (marker == amf0_object_end_marker) {
        r.skip(1);
        return {};
      }
    }
    auto value = decode_value(r, depth_left, budget);
    if (!value) return value.error();
    prop.value = std::move(value.value());
    out.push_back(std::move(prop));
  }
}

Result<AmfValue> decode_value(ByteReader& r, uint32_t depth_left, uint32_t* budget) {
  if (budget) {  // nullptr: no count limit (the input size bounds it)
    if (*budget == 0) return make_error(Errc::limit_exceeded, "AMF0 value count over the limit");
    --*budget;
  }
  uint8_t marker;
  if (!r.read_u8(marker)) return truncated("value marker");
  AmfValue v;
  switch (marker) {
    case 0x00:
      v.type = AmfType::number;
      if (!read_double(r, v.number)) return truncated("number");
      return v;
    case 0x01: {
      uint8_t b;
      if (!r.read_u8(b)) return truncated("boolean");
      v.type = AmfType::boolean;
      v.boolean = b != 0;
      return v;
    }
    case 0x02:
      v.type = AmfType::string;
      if (!read_short_string(r, v.string)) return truncated("string");
      return v;
    case 0x03:
    case 0x08:
    case 0x10: {
      if (depth_left == 0) return make_error(Errc::limit_exceeded, "AMF0 nesting deeper than the limit");
      if (marker == 0x08) {
        uint32_t count_hint;  // advisory only: the end marker ends the array
        if (!r.read_be32(count_hint)) return truncated("ECMA array count");
        v.type = AmfType::ecma_array;
      } else if (marker == 0x10) {
        v.type = AmfType::typed_object;
        if (!read_short_string(r, v.string)) return truncated("class name");
      } else {
        v.type = AmfType::object;
      }
      auto done = decode_properties(r, depth_left - 1, budget, v.properties);
      if (!done) return done.error();
      return v;
    }
    case 0x05: v.type = AmfType::null; return v;
    case 0x06: v.type = AmfType::undefined; return v;
    case 0x07:
      v.type = AmfType::reference;
      if (!r.read_be16(v.reference)) return truncated("reference");
      return v;
    case 0x0a: {
      if (depth_left == 0) return make_error(Errc::limit_exceeded, "AMF0 nesting deeper than the limit");
      uint32_t count;
      if (!r.read_be32(count)) return truncated("strict array count");
      if (budget && count > *budget)
        return make_error(Errc::limit_exceeded, "AMF0 strict array count over the limit");
      // Every element takes at least one byte, so a count beyond the input is a lie.
      if (count > r.remaining()) return truncated("strict array elements");
      v.type = AmfType::strict_array;
      v.elements.reserve(count);
      for (uint32_t i = 0; i < count; ++i) {
        auto element = decode_value(r, depth_left - 1, budget);
        if (!element) return element.error();
        v.elements.push_back(std::move(element.value()));
      }
      return v;
    }
    case 0x0b: {
      v.type = AmfType::date;
      uint16_t tz;
      if (!read_double(r, v.number) || !r.read_be16(tz)) return truncated("date");
      v.timezone = int16_t(tz);
      return v;
    }
    case 0x0c:
      v.type = AmfType::long_string;
      if (!read_long_string(r, v.string)) return truncated("long string");
      return v;
    case 0x0d: v.type = AmfType::unsupported; return v;
    case 0x0f:
      v.type = AmfType::xml_document;
      if (!read_long_string(r, v.string)) return truncated("XML document");
      return v;
    case amf0_avmplus_marker:
      return make_error(Errc::unsupported, "AMF3 value (AVM+ switch marker) in AMF0 data");
    case amf0_object_end_marker:
      return make_error(Errc::malformed, "AMF0 object end marker outside an object");
    case amf0_movieclip_marker:
    case amf0_recordset_marker:
      return make_error(Errc::unsupported, "AMF0 reserved type marker " + std::to_string(marker));
    default:
      return make_error(Errc::malformed, "unknown AMF0 type marker " + std::to_string(marker));
  }
}

void write_double(ByteWriter& w, double d) { w.be64(std::bit_cast<uint64_t>(d)); }

void write_short_string(ByteWriter& w, std::string_view s) {
  w.be16(uint16_t(s.size()));
  w.bytes(s);
}

void encode_properties(const std::vector<AmfProperty>& props, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  for (const auto& p : props) {
    // Names are short strings; longer names cannot be expressed and are cut.
    write_short_string(w, std::string_view(p.name).substr(0, 0xffff));
    amf0_encode(p.value, out);
  }
  w.be16(0);
  w.u8(amf0_object_end_marker);
}

}  // namespace

Result<AmfValue> amf0_decode(ByteReader& reader, uint32_t depth_limit) {
  return decode_value(reader, depth_limit, nullptr);
}

Result<AmfValue> amf0_decode(ByteReader& reader, uint32_t depth_limit, uint32_t& value_budget) {
  return decode_value(reader, depth_limit, &value_budget);
}

Result<std::vector<AmfValue>> amf0_decode_all(std::span<const uint8_t> data, uint32_t depth_limit) {
  ByteReader r(data);
  std::vector<AmfValue> values;
  while (!r.empty()) {
    auto v = decode_value(r, depth_limit, nullptr);
    if (!v) return v.error();
    values.push_back(std::move(v.value()));
  }
  return values;
}

void amf0_encode(const AmfValue& v, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  switch (v.type) {
    case AmfType::number: w.u8(0x00); write_double(w, v.number); return;
    case AmfType::boolean: w.u8(0x01); w.u8(v.boolean ? 1 : 0); return;
    case AmfType::string:
    case AmfType::long_string:
      if (v.type == AmfType::string && v.string.size() <= 0xffff) {
        w.u8(0x02);
        write_short_string(w, v.string);
      } else {
        w.u8(0x0c);
        w.be32(uint32_t(v.string.size()));
        w.bytes(v.string);
      }
      return;
    case AmfType::object: w.u8(0x03); encode_properties(v.properties, out); return;
    case AmfType::null: w.u8(0x05); return;
    case AmfType::undefined: w.u8(0x06); return;
    case AmfType::reference: w.u8(0x07); w.be16(v.reference); return;
    case AmfType::ecma_array:
      w.u8(0x08);
      w.be32(uint32_t(v.properties.size()));
      encode_properties(v.properties, out);
      return;
    case AmfType::strict_array:
      w.u8(0x0a);
      w.be32(uint32_t(v.elements.size()));
      for (const auto& e : v.elements) amf0_encode(e, out);
      return;
    case AmfType::date: w.u8(0x0b); write_double(w, v.number); w.be16(uint16_t(v.timezone)); return;
    case AmfType::unsupported: w.u8(0x0d); return;
    case AmfType::xml_document: w.u8(0x0f); w.be32(uint32_t(v.string.size())); w.bytes(v.string); return;
    case AmfType::typed_object:
      w.u8(0x10);
      write_short_string(w, std::string_view(v.string).substr(0, 0xffff));
      encode_properties(v.properties, out);
      return;
  }
}

std::vector<uint8_t> amf0_encode_all(std::span<const AmfValue> values) {
  std::vector<uint8_t> out;
  for (const auto& v : values) amf0_encode(v, out);
  return out;
}

}  // namespace live::rtmp

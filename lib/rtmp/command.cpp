#include "rtmp/command.h"

namespace live::rtmp {

Result<Command> decode_command(std::span<const uint8_t> payload, uint32_t depth_limit) {
  auto values = amf0_decode_all(payload, depth_limit);
  if (!values) return values.error();
  auto& v = values.value();
  if (v.empty() || !v[0].is_string()) return make_error(Errc::malformed, "command without a name");
  Command c;
  c.name = v[0].string;
  if (v.size() > 1) {
    if (v[1].type != AmfType::number) return make_error(Errc::malformed, "command '" + c.name + "' without a transaction id");
    c.transaction_id = v[1].number;
  }
  if (v.size() > 2) c.command_object = std::move(v[2]);
  for (size_t i = 3; i < v.size(); ++i) c.arguments.push_back(std::move(v[i]));
  return c;
}

std::vector<uint8_t> encode_command(const Command& c) {
  std::vector<uint8_t> out;
  amf0_encode(AmfValue::make_string(c.name), out);
  amf0_encode(AmfValue::make_number(c.transaction_id), out);
  amf0_encode(c.command_object, out);
  for (const auto& a : c.arguments) amf0_encode(a, out);
  return out;
}

AmfValue status_object(const std::string& level, const std::string& code, const std::string& description) {
  return AmfValue::make_object({
      {"level", AmfValue::make_string(level)},
      {"code", AmfValue::make_string(code)},
      {"description", AmfValue::make_string(description)},
  });
}

}  // namespace live::rtmp

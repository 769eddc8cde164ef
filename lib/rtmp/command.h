// RTMP command messages (AMF0): name, transaction id, command object, arguments.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "rtmp/amf0.h"

namespace live::rtmp {

struct Command {
  std::string name;
  double transaction_id = 0;
  AmfValue command_object;         // null when absent
  std::vector<AmfValue> arguments; // everything after the command object
};

// Decodes an AMF0 command payload (for type 17, strip the leading 0x00 format byte first).
Result<Command> decode_command(std::span<const uint8_t> payload, uint32_t depth_limit = default_max_amf_depth);
std::vector<uint8_t> encode_command(const Command& command);

// onStatus info object {level, code, description}.
AmfValue status_object(const std::string& level, const std::string& code, const std::string& description);

}  // namespace live::rtmp

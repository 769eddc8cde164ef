// The StreamConfig a pad's caps describe (codec data parsed with lib/flv).
#pragma once

#include <gst/gst.h>

#include <memory>
#include <string>

#include "common/result.h"
#include "media_frame.h"

namespace live::hlssink {

Result<std::shared_ptr<const StreamConfig>> config_from_caps(GstCaps* caps);

}  // namespace live::hlssink

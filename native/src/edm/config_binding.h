// A SongUNet config from its JS form (src/edm/config.ts), checked.
#pragma once
#include "songunet.h"

namespace onestep::edm {
SongUNetConfig ParseConfig(const Napi::Value& value);
}  // namespace onestep::edm

// Console log levels, ordered by verbosity (Xen's loglvl= names).
#pragma once

#include <stdint.h>

namespace virtue {

enum class LogLevel : uint8_t { None, Error, Warning, Info, Debug, All };

} // namespace virtue

#include "lib/result.hpp"

namespace virtue {

const char* err_name(Err e) {
    switch (e) {
    case Err::InvalidArgument: return "invalid argument";
    case Err::NoMemory: return "out of memory";
    case Err::NotFound: return "not found";
    case Err::Exists: return "already exists";
    case Err::Busy: return "busy";
    case Err::Fault: return "bad address";
    case Err::Range: return "out of range";
    case Err::Truncated: return "truncated";
    case Err::BadFormat: return "bad format";
    case Err::Checksum: return "bad checksum";
    case Err::Overlap: return "overlapping regions";
    case Err::DoubleFree: return "double free";
    case Err::Permission: return "permission denied";
    case Err::NotSupported: return "not supported";
    case Err::BadHandle: return "bad handle";
    case Err::ForeignHandle: return "another domain's handle";
    case Err::WrongType: return "wrong object type";
    }
    return "unknown error";
}

} // namespace virtue

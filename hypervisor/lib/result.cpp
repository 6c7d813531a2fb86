#include "lib/result.hpp"

namespace virtue {

const char* err_name(Err e) {
    switch (e) {
#define ERR(name, xen_errno, grant_status, text) \
    case Err::name: return text;
#include "lib/errors.def"
#undef ERR
    }
    return "unknown error";
}

} // namespace virtue

// CMOS RTC reading (arch/rtc.hpp): registers through ports 0x70/0x71, read
// twice outside an update cycle until two readings agree.
#include "arch/rtc.hpp"

#include "arch/cpu.hpp"
#include "lib/calendar.hpp"

namespace virtue::arch {
namespace {

constexpr uint16_t kIndex = 0x70, kData = 0x71;
constexpr uint8_t kNmiOff = 0x80; // keep NMIs disabled while selecting a register, as firmware leaves them
constexpr uint8_t kStatusA = 0x0a, kStatusB = 0x0b;
constexpr uint8_t kUpdateInProgress = 0x80, kBinary = 0x04, kHour24 = 0x02, kPm = 0x80;

uint8_t cmos(uint8_t reg) {
    outb(kIndex, kNmiOff | reg);
    return inb(kData);
}

struct Reading {
    uint8_t sec, min, hour, day, mon, year, century;
    bool operator==(const Reading&) const = default;
};

bool read_once(Reading& r) {
    for (int spins = 0; cmos(kStatusA) & kUpdateInProgress; spins++)
        if (spins > 1000000) return false;
    r = {cmos(0x00), cmos(0x02), cmos(0x04), cmos(0x07), cmos(0x08), cmos(0x09), cmos(0x32)};
    return true;
}

unsigned from_bcd(uint8_t v) { return (v >> 4) * 10 + (v & 15); }

} // namespace

uint64_t rtc_unix_seconds() {
    Reading a{}, b{};
    for (int tries = 0; tries < 10; tries++) {
        if (!read_once(a) || !read_once(b)) return 0;
        if (a == b) break;
        if (tries == 9) return 0;
    }
    const uint8_t status = cmos(kStatusB);
    const bool bcd = !(status & kBinary);
    auto value = [bcd](uint8_t v) { return bcd ? from_bcd(v) : unsigned{v}; };
    unsigned hour = value(a.hour & static_cast<uint8_t>(~kPm));
    if (!(status & kHour24)) hour = (hour % 12) + ((a.hour & kPm) ? 12 : 0);
    unsigned century = value(a.century);
    if (century < 19 || century > 99) century = 20; // no century register: this one
    const unsigned mon = value(a.mon), day = value(a.day);
    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || value(a.min) > 59 || value(a.sec) > 60) return 0;
    return unix_seconds(century * 100 + value(a.year), mon, day, hour, value(a.min), value(a.sec));
}

} // namespace virtue::arch

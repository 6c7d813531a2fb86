// Civil dates to seconds since the Unix epoch (1970-01-01 00:00:00 UTC),
// for the wall clock the CMOS real-time clock gives (proleptic Gregorian
// calendar, any year from 1970 on).
#pragma once

#include <stdint.h>

namespace virtue {

// Days from 1970-01-01 to year-month-day (month 1-12, day 1-31). Counts in
// 400-year eras that start on March 1st, so that the leap day is the last
// day of its year.
constexpr int64_t days_since_epoch(int64_t year, unsigned month, unsigned day) {
    year -= month <= 2;
    const int64_t era = year / 400;
    const int64_t year_of_era = year - era * 400;
    const int64_t day_of_year = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
    const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468; // 719468: days from 0000-03-01 to 1970-01-01
}

constexpr uint64_t unix_seconds(int64_t year, unsigned month, unsigned day, unsigned hour, unsigned minute,
                                unsigned second) {
    return static_cast<uint64_t>(days_since_epoch(year, month, day)) * 86400 + hour * 3600 + minute * 60 + second;
}

static_assert(days_since_epoch(1970, 1, 1) == 0);
static_assert(days_since_epoch(2000, 3, 1) == 11017); // after a century leap day
static_assert(unix_seconds(2026, 12, 7, 19, 45, 0) == 1796672700);
static_assert(unix_seconds(2024, 2, 29, 0, 0, 0) == 1709164800);

} // namespace virtue

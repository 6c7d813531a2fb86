// The periodic timer interrupt on every CPU.
#pragma once

namespace virtue {

inline constexpr unsigned TICK_HZ = 100;

void timer_tick(); // called from the interrupt handler, IRQs off

} // namespace virtue

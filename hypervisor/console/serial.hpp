// 16550 UART driver (polled transmit).
#pragma once

#include <stdint.h>

namespace virtue {

struct UartConfig {
    uint16_t io_base = 0x3f8;
    uint32_t baud = 115200;  // 0 = keep what firmware/GRUB programmed ("auto")
    uint32_t clock_hz = 1843200; // UART input clock; divisor = clock / 16 / baud
    uint8_t data_bits = 8;
    char parity = 'n';       // n o e m s
    uint8_t stop_bits = 1;
};

class Uart16550 {
  public:
    void init(const UartConfig& cfg);
    void put(char c);
    // A received byte, if one is waiting (never blocks).
    bool try_get(char& c);
    bool present() const { return present_; }

  private:
    uint16_t base_ = 0x3f8;
    bool present_ = false;
};

} // namespace virtue

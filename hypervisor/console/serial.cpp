#include "console/serial.hpp"

#include "arch/cpu.hpp"

namespace virtue {
namespace {
constexpr uint16_t THR = 0, DLL = 0, IER = 1, DLM = 1, FCR = 2, LCR = 3, MCR = 4, LSR = 5, SCR = 7;
constexpr uint8_t LCR_DLAB = 0x80;
constexpr uint8_t LSR_THRE = 0x20;
constexpr uint8_t LSR_DATA_READY = 0x01;
} // namespace

void Uart16550::init(const UartConfig& cfg) {
    base_ = cfg.io_base;
    // Probe with the scratch register: a missing UART reads back 0xff.
    arch::outb(base_ + SCR, 0x5a);
    present_ = arch::inb(base_ + SCR) == 0x5a;
    if (!present_) return;

    uint8_t lcr = static_cast<uint8_t>((cfg.data_bits - 5) & 3);
    if (cfg.stop_bits == 2) lcr |= 1u << 2;
    switch (cfg.parity) {
    case 'o': lcr |= 0x08; break;
    case 'e': lcr |= 0x18; break;
    case 'm': lcr |= 0x28; break;
    case 's': lcr |= 0x38; break;
    default: break;
    }
    arch::outb(base_ + IER, 0); // polled: no UART interrupts
    if (cfg.baud != 0) {
        uint32_t div = cfg.clock_hz / 16 / cfg.baud;
        if (div == 0) div = 1;
        arch::outb(base_ + LCR, LCR_DLAB);
        arch::outb(base_ + DLL, static_cast<uint8_t>(div));
        arch::outb(base_ + DLM, static_cast<uint8_t>(div >> 8));
    }
    arch::outb(base_ + LCR, lcr);
    arch::outb(base_ + FCR, 0x07); // enable and clear FIFOs
    arch::outb(base_ + MCR, 0x03); // DTR, RTS
}

void Uart16550::put(char c) {
    if (!present_) return;
    // Bounded wait: a wedged UART must not hang the hypervisor.
    for (int i = 0; i < 100000 && !(arch::inb(base_ + LSR) & LSR_THRE); i++) arch::cpu_relax();
    arch::outb(base_ + THR, static_cast<uint8_t>(c));
}

bool Uart16550::try_get(char& c) {
    if (!present_ || !(arch::inb(base_ + LSR) & LSR_DATA_READY)) return false;
    c = static_cast<char>(arch::inb(base_ + THR)); // RBR shares THR's offset
    return true;
}

} // namespace virtue

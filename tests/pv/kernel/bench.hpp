// The bench mode's constants shared with its assembly (user_mode.S).
#pragma once

// System calls the bench's user program makes per entry into user mode.
#define PV_USER_BENCH_CALLS 1000

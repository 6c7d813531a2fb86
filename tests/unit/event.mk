# Event channels: the 2-level ABI's bit logic (header only).

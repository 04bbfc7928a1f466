"""Trials as processes on this machine: cold starts, warm starts from a zygote, a watchdog, and the
standby hand-over."""

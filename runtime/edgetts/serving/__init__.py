"""The service: one core (limits, cache, scheduling, metrics) behind thin HTTP, Wyoming and
Triton adapters."""

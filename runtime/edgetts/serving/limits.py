"""The service's limits by default, one place for each: the service core and scheduler use them,
and the CLI's ``serve`` and ``triton`` options show them (this module imports nothing, so the
command line reads it without loading the service)."""

MAX_QUEUE = 32            # requests that may wait (more: 503 + Retry-After)
MAX_BATCH = 8             # clauses decoded together in a wave
MAX_TEXT_CHARS = 2000     # characters per request (more: 413)
MAX_BODY_KB = 64          # request body (more: 413)
REQUEST_TIMEOUT_S = 60.0  # a request's whole synthesis (more: 504)
CACHE_MB = 64             # the in-memory phrase cache
MAX_AUDIO_SECONDS = 900.0 # speech a request may ask for, estimated before synthesis (more: 413)
MAX_CONNECTIONS = 256     # open HTTP connections (more: 503 and closed; lowered to the fd limit)

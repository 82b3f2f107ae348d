"""How many digits a PIN may have: apart from domain.security so that the sign-in window's PIN
field can say it without importing hashlib, hmac, secrets and base64 before its first paint
(issue 19). domain.security re-exports these; the PIN itself is still checked there."""

PIN_MIN_DIGITS = 4  # the shortest PIN ever stored (older sites); new PINs follow the site's minimum
DEFAULT_PIN_MIN_DIGITS = 6  # the site setting's default: 10^6 guesses, not 10^4, for a stolen database
PIN_MAX_DIGITS = 12

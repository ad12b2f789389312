"""The browser's clock for tests/console/*_test.py.

Under tests/at-date.sh the test and pdgate see a faked date, and Chromium, kept out of faketime (it
runs many times slower under it), is given the same moment through Playwright's clock, which then
runs on. On the real clock nothing is installed.
"""
import datetime
import time

# What Chromium logs when Playwright's clock script meets a sandboxed frame (the report preview):
# the script is the test's, not the page's.
CLOCK_IN_SANDBOX = "Blocked script execution in 'about:"


def set_clock(ctx, now_ms: int) -> bool:
    """Sets `ctx`'s clock to `now_ms` when that is not the real time; whether it did."""
    if abs(now_ms - time.time() * 1000) < 60_000:
        return False
    ctx.clock.install(time=datetime.datetime.fromtimestamp(now_ms / 1000, tz=datetime.timezone.utc))
    return True

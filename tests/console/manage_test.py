#!/usr/bin/env python3
"""A subject's self-service page in headless Chromium (Playwright driving the system browser).

Run by tests/tools/console.rs: opens a link's manage_url, checks the token left the address bar, the
consent is listed as given, withdraws it with the button and sees it withdrawn; no script errors.
"""
import argparse
import pathlib
import sys

from playwright.sync_api import expect, sync_playwright

from browser_clock import CLOCK_IN_SANDBOX, set_clock

WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--now-ms", type=int, required=True)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        ctx = browser.new_context(locale="ru-RU")
        clock = set_clock(ctx, a.now_ms)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        page.on(
            "console",
            lambda m: m.type == "error"
            and not (clock and m.text.startswith(CLOCK_IN_SANDBOX))
            and problems.append("console: " + m.text),
        )
        page.on("pageerror", lambda e: problems.append("page error: " + str(e)))
        page.goto(a.url)
        item = page.locator("#consents li.granted")
        expect(item).to_have_count(1)
        expect(page.locator("#title")).to_have_text("Ваши согласия")
        if "token" in page.url:
            problems.append("the token stayed in the address bar: " + page.url)
        page.screenshot(path=str(out / "manage-1-given.png"), full_page=True)
        item.locator("button").click()
        expect(page.locator("#consents li.withdrawn")).to_have_count(1)
        expect(page.locator("#consents button")).to_have_count(0)
        page.screenshot(path=str(out / "manage-2-withdrawn.png"), full_page=True)
        browser.close()
    if problems:
        print("\n".join(problems))
        return 1
    print("manage: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())

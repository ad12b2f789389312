#!/usr/bin/env python3
"""The DPO console in headless Chromium (Playwright driving the system browser).

Run by tests/tools/console.rs against a real pdgate with data in it: signs in with a DPO token,
fulfils a request and previews its report, exports the register, opens a breach, reads a
retention sweep's destruction act, searches the audit log, switches to Russian, and keeps a screenshot of every screen in --out.
"""
import argparse
import pathlib
import re
import sys

from playwright.sync_api import expect, sync_playwright

from browser_clock import CLOCK_IN_SANDBOX, set_clock

WAIT_MS = 10_000
expect.set_options(timeout=WAIT_MS)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--request-id", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--now-ms", type=int, required=True)
    a = ap.parse_args()
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = []

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=a.chromium, args=["--no-sandbox"])
        # The DPO's browser is in New York; the console still shows the operator's legal zone.
        ctx = browser.new_context(accept_downloads=True, locale="en-GB", timezone_id="America/New_York",
                                  viewport={"width": 1280, "height": 900})
        clock = set_clock(ctx, a.now_ms)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        expected = []  # errors a step provokes on purpose (the refused token's 401)

        def on_console(m):
            if clock and m.text.startswith(CLOCK_IN_SANDBOX):
                return
            if m.type == "error" and not any(e in m.text for e in expected):
                problems.append("console: " + m.text)

        page.on("console", on_console)
        page.on("pageerror", lambda e: problems.append("page error: " + str(e)))
        shot = lambda name: page.screenshot(path=str(out / f"{name}.png"), full_page=True)

        page.goto(a.admin + "/console")
        expect(page.locator("#login")).to_be_visible()
        # The countdowns below read the browser's clock against pdgate's deadlines.
        if abs(page.evaluate("Date.now()") - a.now_ms) > 120_000:
            problems.append("the browser's clock is not the test's: " + str(page.evaluate("new Date().toISOString()")))
        expected.append("401")
        page.fill("#token", "not-a-token")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).to_contain_text("refused")
        page.wait_for_timeout(200)
        expected.clear()
        shot("01-login")

        page.fill("#token", a.token)
        page.click("#login-form button[type=submit]")
        expect(page.locator("#tabs")).to_be_visible()
        row = page.locator(f'tr[data-request="{a.request_id}"]')
        expect(row).to_be_visible()
        # Time left as a person reads it ("12 days 9 h"), the subject by what identifies it.
        expect(row.locator(".countdown")).to_have_text(re.compile(r"^\d+ (days?|h|min) \d+ (h|min|s)$"))
        expect(row.locator(".subject")).to_contain_text("by e-mail")
        # Received, in Moscow time ([legal] timezone) whatever the browser's zone.
        expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\d{1,2} \w{3} \d{4}, \d\d:\d\d GMT\+3$"))
        expect(row).not_to_have_class("overdue")
        shot("02-requests")
        # A deadline that has passed turns its row red within a tick.
        due = row.locator(".countdown").get_attribute("data-due")
        row.locator(".countdown").evaluate("n => n.dataset.due = '2000-01-01T00:00:00Z'")
        expect(row).to_have_class("overdue")
        expect(row.locator(".countdown")).to_contain_text("overdue")
        if page.evaluate("getComputedStyle(document.querySelector('tr.overdue td')).color") != "rgb(176, 0, 32)":
            problems.append("an overdue row is not red")
        row.locator(".countdown").evaluate("(n, d) => n.dataset.due = d", due)
        expect(row).not_to_have_class("overdue")

        # Extended with a reason: the notice to the subject is drafted, then recorded as sent.
        row.locator(f'input[data-reason="{a.request_id}"]').fill("the archive is being searched")
        row.locator('button[data-action="extend"]').click()
        expect(row.locator('[data-notice="due"]')).to_be_visible()
        row.locator('button[data-action="notice"]').click()
        expect(page.frame_locator("#report-frame").locator("body")).to_contain_text("Article 12(3)")
        expect(page.frame_locator("#report-frame").locator("body")).to_contain_text("the archive is being searched")
        row.locator('button[data-action="notice-sent"]').click()
        expect(row.locator('[data-notice="sent"]')).to_be_visible()
        shot("02b-extension-notice")

        row.locator('button[data-action="fulfil"]').click()
        expect(page.locator("#status")).to_contain_text(a.request_id)
        expect(page.locator("#report-box")).to_be_visible()
        # The frame still shows the notice until the report replaces it: wait for the report.
        expect(page.frame_locator("#report-frame").locator("h1", has_text="report")).to_be_visible()
        expect(page.locator(f'tr[data-request="{a.request_id}"]')).to_have_count(0)
        shot("03-fulfilled-report")

        page.click('#tabs button[data-tab="consents"]')
        expect(page.locator('#consent-table tr[data-purpose="marketing"] svg')).to_be_visible()
        shot("04-consents")

        page.click('#tabs button[data-tab="register"]')
        expect(page.frame_locator("#register-frame").locator("body")).to_contain_text("22(3)(10.1)")
        with page.expect_download() as dl:
            page.click('.reg-export[data-format="csv"]')
        csv_path = out / dl.value.suggested_filename
        dl.value.save_as(str(csv_path))
        text = csv_path.read_text(encoding="utf-8")
        if "art22,22(3)(1)," not in text:
            problems.append("the exported register lacks item 22(3)(1)")
        with page.expect_download() as dl:
            page.click('.reg-export[data-format="md"]')
        dl.value.save_as(str(out / dl.value.suggested_filename))
        shot("05-register")

        page.click('#tabs button[data-tab="breaches"]')
        page.fill("#nb-categories", "contact")
        page.fill("#nb-description", "Laptop with a CRM export lost")
        page.click("#new-breach button[type=submit]")
        card = page.locator("[data-breach]").first
        # Roskomnadzor 24 h and 72 h, GosSOPKA 24 h and 72 h (a computer incident unless said
        # otherwise), GDPR 72 h.
        expect(card.locator("[data-clock]")).to_have_count(5)
        expect(card.locator('[data-clock="fz152_24h"]')).to_contain_text(":")
        card.locator('button[data-breach-state="notified-24h"]').click()
        expect(page.locator("[data-breach]").first.locator('[data-clock="fz152_24h"]')).to_contain_text("met")
        page.locator("[data-breach]").first.locator('button[data-breach-sent="gossopka_24h"]').click()
        expect(page.locator("[data-breach]").first.locator('[data-clock="gossopka_24h"]')).to_contain_text("met")
        shot("06-breaches")

        page.click('#tabs button[data-tab="audit"]')
        expect(page.locator("#audit-table tbody tr").first).to_be_visible()
        page.select_option("#audit-kind", "request_fulfilled")
        expect(page.locator('#audit-table tbody tr[data-kind="request_fulfilled"]')).to_have_count(1)
        expect(page.locator('#audit-table tbody tr:not([data-kind="request_fulfilled"])')).to_have_count(0)
        with page.expect_download() as dl:
            page.click('.audit-export[data-format="jsonl"]')
        dl.value.save_as(str(out / "audit.jsonl"))
        shot("07-audit")

        # The sweep the test ran before: its act names the erased enquirer and what went.
        page.click('#tabs button[data-tab="retention"]')
        sweep = page.locator("#sweep-table tbody tr[data-sweep]").first
        expect(sweep).to_be_visible()
        sweep.locator('button[data-action="acts"]').click()
        act = page.locator("#act-list [data-act]")
        expect(act).to_have_count(1)
        expect(act.first).to_contain_text("Subjects erased: 1")
        act.first.locator("summary").click()
        expect(act.first.locator("pre")).to_contain_text("log_extract")
        # The reader's withdrawal: its thirty days run while what only marketing covered is stored.
        clock = page.locator('#withdrawal-table tbody tr[data-clock="running"]')
        expect(clock).to_have_count(1)
        expect(clock.first).to_contain_text("marketing")
        shot("10-retention")

        page.click('#tabs button[data-tab="discovery"]')
        expect(page.locator("#discovery-table tbody tr").first).to_contain_text("/feedback")
        shot("08-discovery")

        page.select_option("#lang", "ru")
        expect(page.locator('#tabs button[data-tab="requests"]')).to_have_text("Запросы")
        page.click('#tabs button[data-tab="requests"]')
        page.uncheck("#only-open")
        ru_row = page.locator(f'tr[data-request="{a.request_id}"]')
        expect(ru_row.locator(".status")).to_have_text("исполнен")
        expect(ru_row.locator("td").first).to_contain_text("доступ")
        expect(ru_row.locator(".subject")).to_contain_text("по e-mail")
        # The 152-FZ report in a Russian console is in Russian.
        ru_row.locator('button[data-action="report"]').click()
        expect(page.frame_locator("#report-frame").locator("h1")).to_contain_text("Отчёт по запросу субъекта")
        shot("09-requests-ru")

        browser.close()

    for p_ in problems:
        print("PROBLEM:", p_, file=sys.stderr)
    print("console: ok" if not problems else "console: FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

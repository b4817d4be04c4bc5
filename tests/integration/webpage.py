"""webpage — the browser side of the web tests: Debian's chromium, headless,
driven by chromium-driver through python3-selenium. A test opens windows with
browser(size), waits with wait() through elements a live update redrew, finds
what is shown with visible(), and closes every window with quit_all()."""
import tempfile

from selenium import webdriver
from selenium.common.exceptions import (NoSuchElementException, StaleElementReferenceException,
                                        TimeoutException, WebDriverException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from webtest import TMP

drivers = []


def browser(size):
    options = webdriver.ChromeOptions()
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--lang=en-US", "--window-size=%d,%d" % size):
        options.add_argument(arg)
    options.add_argument("--user-data-dir=" + tempfile.mkdtemp(dir=TMP, prefix="chromium-"))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_window_size(*size)
    drivers.append(driver)
    return driver


# Lists are drawn again when a live update comes: an element found a moment
# ago may be gone, so waits retry through stale elements.
def wait(driver, condition, seconds=10):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                             ).until(lambda d: condition(d))
    except TimeoutException:
        return None


def visible(driver, css):
    for el in driver.find_elements(By.CSS_SELECTOR, css):
        if el.is_displayed():
            return el
    return None


def quit_all():
    for driver in drivers:
        try:
            driver.quit()
        except WebDriverException:
            pass
    drivers.clear()

# The browser the web app's tests drive: Debian's chromium package, installed on first use.
# Playwright is only the driver here; it never downloads a browser of its own.
# Included from the Makefile; `make test` installs the browser first when it is missing.

CHROMIUM := /usr/bin/chromium
# apt-get needs root: sudo when not already root.
AS_ROOT := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: browser

browser: ## install Debian's chromium for the browser tests, if missing
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser tests"; \
		$(AS_ROOT) apt-get update -qq && \
		$(AS_ROOT) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	}

test: browser

"""The built-in web console at ``/console``: overview, events, tokens (and, when their APIs
are there, the live tail and monitors).

The console is static HTML, CSS and plain ES modules served from this package; the
browser calls the same REST API any client does, with the token the operator logs in
with, so it can do nothing the API would not allow. It adds two small read-only JSON
endpoints of its own (:mod:`.routes`): which APIs exist, and the overview's summary.
Every console response carries a strict Content-Security-Policy (:mod:`.headers`).
"""

from stats_service.console.component import ConsoleComponent, build_console

__all__ = ["ConsoleComponent", "build_console"]

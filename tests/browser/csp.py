"""Content-Security-Policy violations of a page (issue #17 point 6), collected two ways: the browser's console
message ("Refused to ...") in the returned list, and the page's securitypolicyviolation event in window.__csp (set,
empty, on every document the page opens, so a check that reads it knows the watcher is there)."""

WATCH = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation', (e) => "
    "window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' line ' + e.lineNumber));"
)


def watch_csp(page) -> list[str]:
    """Watch the page's documents from the next navigation on; returns the list the console refusals go to."""
    page.context.add_init_script(WATCH)
    refused: list[str] = []
    page.on("console", lambda message: refused.append(message.text) if "Refused to" in message.text else None)
    return refused

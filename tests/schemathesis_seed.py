"""Prepares a fresh amolink for schemathesis: signs a tenant up, creates an API key (printed on
stdout) and connects the demo amoCRM account through the mounted simulator, so the API's
id routes are exercised on a real connection too. Standard library only."""

import html
import http.cookiejar
import re
import sys
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def main(base: str) -> None:
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(jar), NoRedirect()
    )

    def request(path: str, form=None):
        url = path if path.startswith("http") else base + path
        data = urllib.parse.urlencode(form, doseq=True).encode() if form else None
        try:
            with opener.open(url, data=data) as res:
                return res.status, res.read().decode(), res.headers
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), err.headers

    def csrf(path: str) -> str:
        _, body, _ = request(path)
        match = re.search(r'name="csrf_token" value="([^"]*)"', body)
        if not match:
            sys.exit(f"no CSRF token on {path}")
        return match.group(1)

    status, _, _ = request(
        "/signup",
        {
            "email": "schemathesis@example.com",
            "password": "correct horse battery staple",
            "workspace": "Schemathesis",
            "csrf_token": csrf("/signup"),
        },
    )
    if status != 303:
        sys.exit(f"sign-up answered {status}")
    status, body, _ = request(
        "/settings/api-keys",
        {"name": "schemathesis", "csrf_token": csrf("/settings/api-keys")},
    )
    if status == 303:
        # Post/redirect/get: the new key is shown once, on the page the form redirects to.
        _, body, _ = request("/settings/api-keys")
    key = re.search(r"alk_[A-Za-z0-9_-]{43}", body)
    if not key:
        sys.exit("no API key was shown")

    _, dashboard, _ = request("/dashboard")
    link = html.unescape(re.search(r'<code id="link-[^"]*">([^<]*)</code>', dashboard).group(1))
    _, page, _ = request(link)
    tag = page[page.index('<script class="') :]
    tag = tag[: tag.index("</script>")]

    def attr(name: str) -> str:
        return html.unescape(re.search(rf'{name}="([^"]*)"', tag).group(1))

    form = [
        ("state", attr("data-state")),
        ("mode", "post_message"),
        ("name", attr("data-name")),
        ("description", attr("data-description")),
        ("redirect_uri", attr("data-redirect_uri")),
        ("secrets_uri", attr("data-secrets_uri")),
        ("logo", attr("data-logo")),
        ("decision", "allow"),
        ("account_id", "31000001"),
    ] + [("scopes[]", s) for s in attr("data-scopes").split(",")]
    status, body, headers = request("/_sim/site/www.amocrm.ru/oauth/decision", form)
    if status != 302:
        sys.exit(f"consent answered {status}: {body[:300]}")
    status, _, _ = request(headers["Location"])
    if status != 303:
        sys.exit(f"callback answered {status}")
    print(key.group(0))


if __name__ == "__main__":
    main(sys.argv[1])

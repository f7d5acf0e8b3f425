"""Sign-in in front of Gradio: sessions in our database, a throttle, CSRF and cookie rules.

Why a gate of our own instead of Gradio's `auth=`: Gradio keeps its login tokens in a dict
in memory that nothing outside the process can end, sets its cookie with SameSite=None,
accepts a login form posted from any site, never throttles and never expires a token. This
ASGI middleware (mounted through `launch(app_kwargs={"middleware": ...})`, so no Gradio
internals are patched) takes over three things and leaves the rest to Gradio:

  * `POST /login`: refuses a form posted from another site (Origin, else Referer, must be
    this host or the share link's), throttles failures per account and per client address
    (backend/throttle.py: growing waits, then a temporary lockout, with a message saying how
    long and a log line), checks the password, and starts a session: a random cookie whose
    SHA-256 only is stored (backend/store/users.py), HttpOnly, SameSite=Lax, Secure over https
    or a share link, expiring after `[ui] session_hours`;
  * `/logout`: ends the session in the database;
  * every other request: the cookie is checked against the database now, and Gradio is told
    the user only while the session lives (its token dict mirrors our verdict). A session of
    a removed user, or one from before a password change, is refused at once: 401 on
    `/config` and every API route, our sign-in page on `/`.

Gradio still guards its routes with its own `login_check` (given a password check that
never succeeds, so its own /login could not sign anyone in even if reached).
"""

from __future__ import annotations

import asyncio
import html
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from backend import accounts
from backend.config.people import SignInPolicy
from backend.throttle import Throttle, Verdict

log = logging.getLogger(__name__)

#: Client addresses may fail this many times more than one account before they wait.
ADDRESS_FACTOR = 3


@dataclass
class GateState:
    """What the gate learns after it is built: the share link's host, once there is one."""

    share_host: str = ""
    extra_hosts: set[str] = field(default_factory=set)


def _wait_words(seconds: float) -> str:
    seconds = max(1, int(round(seconds)))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    return f"{round(seconds / 60)} minutes"


class SignInGate:
    def __init__(self, app: Any, *, policy: SignInPolicy, share: bool, message: str,
                 state: GateState) -> None:
        self.app = app
        self.policy = policy
        self.share = share
        self.message = message
        self.state = state
        lock = policy.lockout_minutes * 60
        self.by_account = Throttle(free=policy.free_attempts, lockout_after=policy.lockout_after,
                                   lockout_seconds=lock)
        self.by_address = Throttle(free=policy.free_attempts * ADDRESS_FACTOR,
                                   lockout_after=policy.lockout_after * ADDRESS_FACTOR,
                                   lockout_seconds=lock)

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        gradio = scope.get("app")
        path = scope["path"].rstrip("/") or "/"
        if scope["type"] == "http" and path == "/login" and scope["method"] == "POST":
            response: Response = await self._login(request, gradio)
        elif scope["type"] == "http" and path == "/logout":
            response = self._logout(request, gradio)
        else:
            token = self._token(request, gradio)
            who = accounts.session_identity(token) if token else None
            tokens = getattr(gradio, "tokens", None)
            if tokens is not None and token:
                if who is not None:
                    tokens[token] = who.username
                else:
                    tokens.pop(token, None)
            if who is not None or scope["type"] != "http" or path != "/" or \
                    scope["method"] not in ("GET", "HEAD"):
                await self.app(scope, receive, send)
                return
            response = HTMLResponse(login_page(self.message))
        await response(scope, receive, send)

    # -- cookies ------------------------------------------------------------------------------
    @staticmethod
    def cookie_name(gradio: Any) -> str:
        return f"access-token-{getattr(gradio, 'cookie_id', 'cosmos')}"

    def _token(self, request: Request, gradio: Any) -> str | None:
        return request.cookies.get(self.cookie_name(gradio))

    def _secure(self, request: Request) -> bool:
        forwarded = request.headers.get("x-forwarded-proto", "").lower()
        return self.share or request.url.scheme == "https" or forwarded == "https"

    # -- where a request came from ------------------------------------------------------------
    def _client(self, request: Request) -> str:
        peer = request.client.host if request.client else "?"
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded and peer in ("127.0.0.1", "::1"):  # the share tunnel ends on loopback
            return forwarded.split(",")[0].strip() or peer
        return peer

    def _cross_site(self, request: Request) -> str | None:
        """Why the form seems posted from another site, or None. A browser always sends
        Origin (or at least Referer) with a form post; a script sends neither."""
        allowed = {h.lower() for h in (request.headers.get("host", ""),
                                       request.headers.get("x-forwarded-host", ""),
                                       self.state.share_host, *self.state.extra_hosts) if h}
        origin = request.headers.get("origin")
        if origin is not None:
            if origin == "null" or urlsplit(origin).netloc.lower() not in allowed:
                return f"the sign-in form was posted from {origin}"
            return None
        referer = request.headers.get("referer")
        if referer and urlsplit(referer).netloc.lower() not in allowed:
            return f"the sign-in form was posted from a page of {urlsplit(referer).netloc}"
        return None

    # -- the routes ---------------------------------------------------------------------------
    async def _login(self, request: Request, gradio: Any) -> Response:
        client = self._client(request)
        why = self._cross_site(request)
        if why:
            log.warning("refused a cross-site sign-in from %s: %s", client, why)
            return JSONResponse({"detail": f"Sign-in refused: {why}. Open this app's own page "
                                 "and sign in there."}, status_code=403)
        try:
            form = await request.form()
        except Exception:  # not a form at all
            return JSONResponse({"detail": "Send the user name and password as a form."},
                                status_code=400)
        username = str(form.get("username") or "").strip()[:64]
        password = str(form.get("password") or "")
        account = username.lower()
        for throttle, key, what in ((self.by_account, account, f"account {username!r}"),
                                    (self.by_address, client, f"address {client}")):
            verdict = throttle.check(key)
            if not verdict.allowed:
                return self._refuse_throttled(verdict, what, username, client)
        if await asyncio.to_thread(accounts.authenticate, username, password):  # scrypt: slow
            self.by_account.succeeded(account)
            self.by_address.succeeded(client)
            user = accounts.users.find(username)
            token = accounts.start_session(user.username, self.policy.session_hours)
            response = JSONResponse({"success": True})
            response.set_cookie(self.cookie_name(gradio), token, httponly=True,
                                samesite="lax", secure=self._secure(request), path="/",
                                max_age=int(self.policy.session_hours * 3600))
            log.info("%s signed in from %s", user.username, client)
            return response
        account_verdict = self.by_account.failed(account)
        address_verdict = self.by_address.failed(client)
        worst = max((account_verdict, address_verdict), key=lambda v: (v.locked, v.wait))
        log.warning("failed sign-in for %r from %s (%d in a row for the account, %d from the "
                    "address)%s", username, client, account_verdict.failures,
                    address_verdict.failures,
                    f"; locked for {_wait_words(worst.wait)}" if worst.locked else
                    f"; next try in {_wait_words(worst.wait)}" if worst.wait else "")
        detail = "Wrong user name or password."
        if worst.locked:
            detail += (f" Too many failed sign-ins: signing in is locked for "
                       f"{_wait_words(worst.wait)}.")
        elif worst.wait:
            detail += f" Wait {_wait_words(worst.wait)} before the next try."
        return JSONResponse({"detail": detail}, status_code=400)

    def _refuse_throttled(self, verdict: Verdict, what: str, username: str,
                          client: str) -> Response:
        words = _wait_words(verdict.wait)
        if verdict.locked:
            detail = (f"Too many failed sign-ins for this {what.split()[0]}: signing in is "
                      f"locked for {words} more. Ask an operator if you forgot the password "
                      "(`cosmos user passwd`).")
        else:
            detail = f"Too many failed sign-ins: wait {words} before trying again."
        log.warning("refused sign-in for %r from %s: %s %s", username, client, what,
                    "locked" if verdict.locked else "must wait")
        return JSONResponse({"detail": detail}, status_code=429,
                            headers={"Retry-After": str(max(1, int(verdict.wait + 0.999)))})

    def _logout(self, request: Request, gradio: Any) -> Response:
        token = self._token(request, gradio)
        who = accounts.session_identity(token) if token else None
        if who is not None and request.query_params.get("everywhere"):
            accounts.users.end_sessions_of(who.username)
        accounts.end_session(token)
        tokens = getattr(gradio, "tokens", None)
        if tokens is not None and token:
            tokens.pop(token, None)
        response = RedirectResponse("./", status_code=302)
        response.delete_cookie(self.cookie_name(gradio), path="/")
        if who is not None:
            log.info("%s signed out", who.username)
        return response


LOGIN_JS = """
document.getElementById('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const box = document.getElementById('login-error');
  const button = document.getElementById('login-button');
  button.disabled = true; box.textContent = '';
  try {
    const r = await fetch('login', {method: 'POST', body: new URLSearchParams(new FormData(ev.target)),
                                    credentials: 'same-origin'});
    if (r.status === 200) { location.reload(); return; }
    let detail = 'Sign-in failed (' + r.status + ').';
    try { detail = (await r.json()).detail || detail; } catch (e) {}
    box.textContent = detail;
    document.getElementById('password').value = '';
  } catch (e) { box.textContent = 'The app does not answer: ' + e; }
  button.disabled = false;
});
"""


def login_page(message: str) -> str:
    """Our sign-in page (Gradio's shows only "Incorrect credentials" for every refusal)."""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Cosmos Workflow Orchestrator</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f4f5f7; margin: 0; }}
main {{ max-width: 420px; margin: 12vh auto; background: #fff; padding: 28px 32px;
        border-radius: 10px; box-shadow: 0 2px 12px rgba(0,0,0,.08); }}
h1 {{ font-size: 1.3rem; margin: 0 0 6px; }} p {{ color: #555; margin: 0 0 18px; }}
label {{ display: block; font-size: .9rem; margin: 12px 0 4px; color: #333; }}
input {{ width: 100%; box-sizing: border-box; padding: 9px 10px; font-size: 1rem;
         border: 1px solid #c8ccd2; border-radius: 6px; }}
button {{ margin-top: 18px; width: 100%; padding: 10px; font-size: 1rem; border: 0;
          border-radius: 6px; background: #ea580c; color: #fff; cursor: pointer; }}
button:disabled {{ opacity: .6; }}
#login-error {{ color: #b91c1c; margin-top: 14px; min-height: 1.2em; font-size: .95rem; }}
</style></head><body><main>
<h1>Cosmos Workflow Orchestrator</h1><p>{html.escape(message)}</p>
<form id="login-form" method="post" action="login">
<label for="username">username</label>
<input id="username" name="username" autocomplete="username" required maxlength="64">
<label for="password">password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button id="login-button" type="submit">Login</button>
<div id="login-error" role="alert"></div>
</form></main><script>{LOGIN_JS}</script></body></html>"""

"""The Gradio Blocks app: assembles the pieces in components/ and decides how it is served.

Serving rules live here because they are security rules: Gradio may serve only our outputs,
uploads, exports and shipped assets, never the database, config or keys (issue 6 tightens
sign-in).
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue rebuilds a pandas summary of up to 10,000 past events after every event (for
# its monitoring page, which we do not serve): measured with py-spy during `make bench` row 9,
# 14% of the app's CPU. Keep one record and never rebuild it.
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1")
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(2**62))

import gradio as gr  # noqa: E402

from backend import accounts  # noqa: E402
from backend.operations import ASSETS_DIR  # noqa: E402
from backend.wiring import Backend  # noqa: E402
from components.common import (TAB_COMPARE, TAB_CREATE, TAB_GALLERY, TAB_HOSTS,  # noqa: E402
                               TAB_RUNS, TAB_SWEEPS, TAB_USAGE)
from components.compare import CompareView  # noqa: E402
from components.create_form import FORM_HEAD, CreateForm  # noqa: E402
from components.gallery import Gallery  # noqa: E402
from components.hosts import HostsView  # noqa: E402
from components.live import LivePage  # noqa: E402
from components.nav import Nav  # noqa: E402
from components.notify import Notifier  # noqa: E402
from components.run_view import RunView  # noqa: E402
from components.runs_table import RunsTable  # noqa: E402
from components.create_sweep import SweepPanel  # noqa: E402
from components.sweeps import SWEEP_CSS, SweepsView  # noqa: E402
from components.review_links_panel import LinkBanner, LinksPanel  # noqa: E402
from components.usage import UsageView  # noqa: E402
from cosmos_ui import auth  # noqa: E402
from cosmos_ui import inline_convert  # noqa: E402
from cosmos_ui.lean_blocks import LeanBlocks  # noqa: E402
from cosmos_ui.quiet_progress import silence_hidden_progress  # noqa: E402
from cosmos_ui.review_links import LinkGate  # noqa: E402
from cosmos_ui.review_page import REVIEW_CSS, REVIEW_HEAD, Router  # noqa: E402
from cosmos_ui.style import CSS  # noqa: E402
from components.gpu_chart import CSS as GPU_CHART_CSS  # noqa: E402

log = logging.getLogger(__name__)

#: How often Gradio's queue looks for a new event while it has none, and for progress to send
#: (its Linux defaults: every 1 ms and 10 ms). Polling every millisecond kept an idle app at
#: ~15% of a core with no page open (measured: 4.5 CPU-seconds in 30 idle seconds of
#: `python launch.py`); every 10 ms it costs a tenth of that and a click waits at most 10 ms
#: more for its turn (5 on average) behind a queue that answers in tens to hundreds.
QUEUE_POLL_SECONDS = 0.01
PROGRESS_POLL_SECONDS = 0.05


def calm_queue(demo: gr.Blocks) -> None:
    """Slow Gradio's idle polling (QUEUE_POLL_SECONDS) on the queue demo.queue() made."""
    queue = demo._queue
    queue.sleep_when_free = QUEUE_POLL_SECONDS
    queue.progress_update_sleep_when_free = PROGRESS_POLL_SECONDS


def build_app(backend: Backend) -> gr.Blocks:
    ops = backend.ops
    inline_convert.install()  # light form values convert without a thread hop each
    with LeanBlocks(title="Cosmos Workflow Orchestrator") as demo:
        live = LivePage()
        nav = Nav(live)
        nav.gate = LinkGate(ops, live)  # what a page opened from a review link may show
        router = Router(ops, nav)  # the address bar: back/forward return where they were
        with gr.Row(elem_classes="app-header", equal_height=True):
            gr.HTML("<h2>Cosmos Workflow Orchestrator</h2>", js_on_load=None, min_width=300,
                    scale=1)
            signed_in = gr.HTML("", elem_id="signed-in", js_on_load=None, min_width=160,
                                scale=0)
            with gr.Column(scale=0, min_width=330):
                notifier = Notifier(ops, nav, live)
        banner = LinkBanner(ops, nav, live)
        with gr.Tabs(elem_id="main-tabs") as tabs:
            nav.tabs = tabs
            with gr.Tab("Create", id=TAB_CREATE, elem_id="tab-create"):
                create = CreateForm(ops, nav)
                sweep_panel = SweepPanel(ops, nav, create)
            with gr.Tab("Runs", id=TAB_RUNS, elem_id="tab-runs"):
                table = RunsTable(ops, nav, live)
                links = LinksPanel(ops, nav)
                run_view = RunView(ops, nav, create, live)
            with gr.Tab("Gallery", id=TAB_GALLERY, elem_id="tab-gallery"):
                gallery = Gallery(ops, nav, live)
            with gr.Tab("Sweeps", id=TAB_SWEEPS, elem_id="tab-sweeps"):
                sweeps = SweepsView(ops, nav, live)
            with gr.Tab("Compare", id=TAB_COMPARE, elem_id="tab-compare"):
                compare = CompareView(ops, nav)
            with gr.Tab("Hosts", id=TAB_HOSTS, elem_id="tab-hosts"):
                HostsView(ops, nav, live)
            with gr.Tab("Usage", id=TAB_USAGE, elem_id="tab-usage"):
                UsageView(ops, nav, live)
        table.wire_open(run_view.answer_outputs, run_view.answer_open)
        create.wire_open(run_view.answer_outputs, run_view.answer_open)
        sweep_panel.wire(sweeps.selected)
        sweeps.wire()
        nav.wire()
        live.wire(demo, ops.bus)
        banner.wire()
        for view in (table, gallery):  # a revoked or expired link empties them at once
            banner.changed.change(view.render_page, view.inputs, view.outputs,
                                  api_visibility="private", show_progress="hidden")

        def recheck_run(request: gr.Request) -> None:
            """The run view looks again: its run may have left the link's scope."""
            run_view.shown_now(live.page(request).selected, request)

        banner.changed.change(recheck_run, None, None, api_visibility="private",
                              show_progress="hidden")
        router.wire(compare)

        def on_load(watch: list | None, sound: bool | None, request: gr.Request):
            """A fresh page: current lists, and what the URL asks for (?a=&b=, ?run=)."""
            query = dict(request.query_params) if request else {}
            nav.gate.open(request, query.get("review"))  # before anything shows a run
            pair, run, tab = router.from_query(query, request)
            inputs, presets = create.on_load()
            who = auth.identity(ops, request)
            operator = who.may(accounts.LAUNCH)
            if not operator and tab is None:
                tab = TAB_RUNS  # Create is hidden for reviewers
            run_view.shown_now(run, request)  # the live stream may now show a run
            return (inputs, presets, notifier.on_load(watch, sound), pair or gr.skip(),
                    run or gr.skip(), nav.goto(tab) if tab else gr.skip(),
                    *role_updates(who, operator))

        def role_updates(who, operator: bool) -> list:
            hidden = [gr.update(visible=operator)]
            if who.username:
                badge = (f"<div id='signed-in-as'>Signed in as <b>{html.escape(who.username)}"
                         f"</b> ({html.escape(who.role)}) · <a href='/logout'>Sign out</a></div>")
            else:
                badge = ""
            # Tabs a role may not use are hidden by CSS, button and panel, not by a gr.Tab
            # visibility update: a tab made an event's output costs the page a walk of all
            # its components on every later status message (see Nav.switch). What a hidden
            # tab could do is refused on the server anyway (cosmos_ui/guard.py).
            hide = [f"#{tab}-button, #{tab}" for tab, shown in (("tab-create", operator),
                    ("tab-hosts", who.may(accounts.HOSTS))) if not shown]
            if hide:
                badge += "<style>" + ", ".join(hide) + " { display: none !important; }</style>"
            return [*hidden * 5, gr.update(visible=who.may(accounts.PRESETS)), badge]

        demo.load(on_load, [notifier.watch, notifier.sound_pref],
                  [create.fields["input_choice"], create.preset, notifier.sound,
                   nav.compare_pair, nav.selected_run, nav.switch, run_view.rerun, run_view.load, run_view.upscale,
                   run_view.kill, run_view.delete, create.presets_box, signed_in],
                  api_visibility="private", show_progress="hidden").then(
            notifier.check, [notifier.watch, notifier.sound], [notifier.payload, notifier.watch],
            api_visibility="private", show_progress="hidden").then(
            banner.render, None, [banner.html, banner.pass_box, banner.pass_error],
            api_visibility="private", show_progress="hidden")  # after on_load opened the link

        def show_links(request: gr.Request):
            return gr.update(visible=auth.allowed(ops, request, accounts.SHARE))

        demo.load(show_links, None, links.box, api_visibility="private",
                  show_progress="hidden")
    demo.live_page = live  # type: ignore[attr-defined]  # the log channel serves its pages
    silence_hidden_progress(demo)  # why: cosmos_ui/quiet_progress.py
    return demo


def served_paths(backend: Backend) -> list[str]:
    """The only folders Gradio may serve files from."""
    settings = backend.settings
    exports = backend.ops.exports_dir
    for folder in (settings.runs_dir, settings.uploads_dir, exports):
        folder.mkdir(parents=True, exist_ok=True)
    return [str(settings.runs_dir), str(settings.uploads_dir), str(exports), str(ASSETS_DIR)]


def blocked_paths(backend: Backend) -> list[str]:
    settings = backend.settings
    data = Path(settings.data_dir)
    return [str(settings.db_path), str(settings.db_path) + "-wal", str(settings.db_path) + "-shm",
            str(settings.db_path) + "-journal", str(settings.config_path),
            str(data / "known_hosts"), str(data / "instance_id"), str(Path.home() / ".ssh"),
            "/etc"]


def input_roots(settings) -> list[Path]:
    """Folders whose files the web app accepts as inputs: uploads (ours and Gradio's upload
    folder, where a dropped file lands first), the shipped samples and `[ui] input_roots`."""
    from gradio.utils import get_upload_folder

    return [settings.uploads_dir, Path(get_upload_folder()), ASSETS_DIR,
            *settings.input_roots]


def _never(username: str, password: str) -> bool:
    """Gradio's own /login is never reached (cosmos_ui/gate.py answers it); were it reached,
    it would sign nobody in."""
    return False


SIGN_IN_MESSAGE = ("Sign in with the account an operator made for you "
                   "(`cosmos user add`).")


def launch_app(backend: Backend, *, host: str, port: int, share: bool = False,
               sign_in: bool = False, block: bool = True) -> gr.Blocks:
    """Serve the app. With `sign_in`, our gate (cosmos_ui/gate.py) signs people in and checks
    their session on every request, Gradio's login_check guards every page and API route,
    and every handler checks the caller's role per request (cosmos_ui/guard.py)."""
    from starlette.middleware import Middleware

    from cosmos_ui.gate import GateState, SignInGate
    from cosmos_ui.guard import guard_every_event
    from cosmos_ui import startup_check
    from cosmos_ui.frontend_patch import FrontendPatch, patched_assets
    from cosmos_ui.log_channel import LogChannel

    if sign_in and not backend.ops.sign_in_required:
        raise ValueError("start the backend with sign_in_required=True to serve with sign-in")
    demo = build_app(backend)
    app_kwargs = {}
    state = GateState()
    middleware = []
    if sign_in:
        wrapped = guard_every_event(demo, backend.ops)
        log.info("sign-in on: %d event handlers check the caller per request", wrapped)
        middleware.append(Middleware(
            SignInGate, policy=backend.settings.sign_in, share=share, message=SIGN_IN_MESSAGE,
            state=state))
    # inside the gate: the run log's own channel (it checks the session itself as well)
    middleware.append(Middleware(LogChannel, ops=backend.ops, live=demo.live_page))
    # Gradio's page code with a lookup table for its component tree (why: frontend_patch.py)
    # (patched now, not on the first request: that one is Gradio's start-up check)
    middleware.append(Middleware(FrontendPatch, assets=patched_assets()))
    app_kwargs["middleware"] = middleware
    demo.queue(default_concurrency_limit=8)
    calm_queue(demo)
    startup_check.install()
    demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        prevent_thread_lock=True,
        allowed_paths=served_paths(backend),
        blocked_paths=blocked_paths(backend),
        max_file_size=f"{backend.settings.max_upload_mb}mb",
        show_error=False,
        quiet=False,
        css=CSS + REVIEW_CSS + SWEEP_CSS + GPU_CHART_CSS,
        head=REVIEW_HEAD + FORM_HEAD,
        footer_links=[],
        auth=_never if sign_in else None,
        auth_message=SIGN_IN_MESSAGE if sign_in else None,
        app_kwargs=app_kwargs,
    )
    if demo.share_url:
        from urllib.parse import urlsplit

        state.share_host = urlsplit(demo.share_url).netloc
    if block:
        demo.block_thread()
    return demo

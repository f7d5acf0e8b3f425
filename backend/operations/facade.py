"""The one facade the UI and the CLI use: validate, launch, kill, and ask about runs.

It is assembled from one module per concern (launching, inputs, runs, library, reviews,
fleet, exports, sweeps, webhooks, preparing (image sequences), and the review room's versions,
notes, review links, reports, drafts); its collaborators come in through the constructor,
nothing is patched in
later. Nothing here talks to SSH or Docker (doctor excepted: that is its job) and nothing
blocks on the network (but a person's webhook test, which waits for the endpoint's answer);
every query goes through the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from backend.config import Settings
from backend.config.people import cli_user
from backend.operations.exports import ExportOps
from backend.operations.fleet import FleetOps
from backend.operations.inputs import InputOps
from backend.operations.dry_run import DryRunOps
from backend.operations.launching import LaunchOps
from backend.operations.library import LibraryOps
from backend.operations.drafts import DraftOps
from backend.operations.notes import NoteOps
from backend.operations.preparing import PrepareOps
from backend.operations.reports import ReportOps
from backend.operations.review_links import ReviewLinkOps
from backend.operations.reviews import ReviewOps
from backend.operations.runs import RunOps
from backend.operations.setup_ops import SetupOps
from backend.operations.sweeps import SweepOps
from backend.operations.usage import UsageOps
from backend.operations.versions import VersionOps
from backend.operations.webhooks import WebhookOps


class Operations(LaunchOps, DryRunOps, InputOps, RunOps, LibraryOps, ReviewOps, FleetOps,
                 ExportOps,
                 UsageOps, VersionOps, NoteOps, ReviewLinkOps, ReportOps, DraftOps, SetupOps,
                 SweepOps, WebhookOps, PrepareOps):
    """settings: the config; store: the database (and, as `store.bus`, this process's
    events); telemetry: the latest host snapshots (backend.hosts.telemetry.TelemetryView),
    None where nothing watches hosts; sign_in_required: every request must come from a
    signed-in user, whose role is checked per request (cosmos_ui/auth.py); input_roots: the
    folders whose files may become inputs (the web app's: uploads, samples, `[ui]
    input_roots`), None for any file this process can read (the CLI, run by the machine's
    own user)."""

    def __init__(self, settings: Settings, store: Any, *, telemetry: Any = None,
                 sign_in_required: bool = False,
                 input_roots: Sequence[Path] | None = None) -> None:
        self.settings = settings
        self.store = store
        self.bus = store.bus
        self.telemetry = telemetry
        self.sign_in_required = sign_in_required
        self.input_roots = None if input_roots is None else tuple(
            Path(p).resolve() for p in input_roots)

    @property
    def local_user(self) -> str:
        """Who owns what this process launches without a signed-in user: $COSMOS_USER,
        `[cli] user`, else the OS login name."""
        return cli_user(self.settings.cli_user)

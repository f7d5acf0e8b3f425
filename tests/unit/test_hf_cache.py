"""Which Hugging Face download puts a checkpoint at its cache path (doctor's fix line and
setup's container command are both made from it)."""

from __future__ import annotations

from backend.hosts.hf_cache import download_argv, repo_of
from backend.models.transfer2_5.profile import Transfer25Profile

TEMPLATE = Transfer25Profile.image.download_argv


def test_one_file_at_its_pinned_revision():
    rel = ("hub/models--nvidia--Cosmos-Predict2.5-2B/snapshots/"
           "f176dc95b4a70f53ce01c4b302851595e7322b00/tokenizer.pth")
    assert repo_of(rel) == "nvidia/Cosmos-Predict2.5-2B"
    assert download_argv(TEMPLATE, rel, whole_repo=False) == [
        "uvx", "hf>=1.3.5", "download", "nvidia/Cosmos-Predict2.5-2B", "tokenizer.pth",
        "--revision", "f176dc95b4a70f53ce01c4b302851595e7322b00"]


def test_a_whole_repository_leaves_the_file_out():
    rel = ("hub/models--nvidia--Cosmos-Guardrail1/snapshots/"
           "d6d4bfa899a71454a700907664f3e88f503950cf/video_content_safety_filter/safety_filter.pt")
    assert download_argv(TEMPLATE, rel, whole_repo=True) == [
        "uvx", "hf>=1.3.5", "download", "nvidia/Cosmos-Guardrail1",
        "--revision", "d6d4bfa899a71454a700907664f3e88f503950cf"]


def test_an_unpinned_repository_is_its_main_branch():
    rel = "hub/models--Qwen--Qwen3Guard-Gen-0.6B/refs/main"
    assert download_argv(TEMPLATE, rel, whole_repo=True) == [
        "uvx", "hf>=1.3.5", "download", "Qwen/Qwen3Guard-Gen-0.6B", "--revision", "main"]


def test_transfer2_5_lists_what_every_run_downloads():
    """The text encoder, the VAE and both guardrails (every run loads them), besides the
    four control checkpoints and the distilled one, each with its revision where upstream
    pins one."""
    needed = {c.needed_for: c for c in Transfer25Profile.checkpoints}
    assert {"edge", "vis", "depth", "seg", "edge/distilled", "text encoder (Cosmos-Reason1-7B)",
            "VAE (Wan2.1)", "guardrail (Cosmos-Guardrail1)",
            "guardrail (Qwen3Guard-Gen-0.6B)"} == set(needed)
    for what in ("text encoder (Cosmos-Reason1-7B)", "VAE (Wan2.1)",
                 "guardrail (Cosmos-Guardrail1)"):
        assert needed[what].revision and needed[what].revision in needed[what].path
    assert needed["guardrail (Qwen3Guard-Gen-0.6B)"].whole_repo
    assert not needed["VAE (Wan2.1)"].whole_repo

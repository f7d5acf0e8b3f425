"""Outcome: one cause per way a Cosmos job ends, with the log line that proves it."""

from __future__ import annotations

import pytest

from backend.models.transfer1.outcome import BLOCKED, CANCELLED, COMPLETED, FAILED, classify_outcome


def rec(msg: str, level: str = "INFO", rank: int | None = None, t: str = "10:05:00") -> str:
    prefix = f"[rank{rank}]:" if rank is not None else ""
    return (f"{prefix}[06-07 {t}|{level}|cosmos_transfer1/diffusion/inference/transfer.py:"
            f"321:demo] {msg}")


HEAD = [
    "[cosmos-orchestrator] run r1 started 2026-06-07T10:00:00+0000 on gpu-box",
    rec("control_inputs: {"), '    "edge": {', '        "control_weight": 1.0', "    }", "}",
    rec("Start creating base model"), rec("Done loading the base model checkpoint."),
    rec("Run generation"),
    rec("Making all control and input videos to be length of 121 frames."),
]
SAVED = [rec("Finish generation"), rec("Run guardrail on generated videos"),
         rec("Saved video to /cosmos/runs/r1/outputs/output.mp4"),
         rec("Saved prompt to /cosmos/runs/r1/outputs/output.txt")]

TORCHRUN_FAILED = [
    ("E0607 10:03:00.123000 1 torch/distributed/elastic/multiprocessing/api.py:869] failed "
     "(exitcode: 1) local_rank: 0 (pid: 80) of binary: /usr/bin/python3"),
    "Traceback (most recent call last):",
    '  File "/usr/local/bin/torchrun", line 8, in <module>',
    "    sys.exit(main())",
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    "============================================================",
    "cosmos_transfer1/diffusion/inference/transfer.py FAILED",
    "------------------------------------------------------------",
    "Root Cause (first observed failure):",
    "[0]:",
    "  rank      : 0 (local_rank: 0)",
    "  exitcode  : 1 (pid: 80)",
    "============================================================",
]


def traceback(rank: int | None, *tail: str) -> list[str]:
    p = f"[rank{rank}]: " if rank is not None else ""
    return [f"{p}Traceback (most recent call last):",
            (f'{p}  File "/workspace/ct1/cosmos_transfer1/diffusion/inference/transfer.py", '
             "line 380, in <module>"),
            f"{p}    demo(args, control_inputs)"] + [p + line for line in tail]


def classify(lines, exit_code=1, output=False, killed=False):
    return classify_outcome(exit_code=exit_code, log_lines=lines, output_exists=output,
                            killed_by_user=killed)


def test_completed():
    out = classify(HEAD + SAVED, exit_code=0, output=True)
    assert out.status == COMPLETED
    assert out.evidence.endswith("Saved video to /cosmos/runs/r1/outputs/output.mp4")


def test_exit_zero_without_video_is_a_failure():
    out = classify(HEAD + [rec("Finish generation")], exit_code=0, output=False)
    assert (out.status, out.cause) == (FAILED, "Cosmos exited 0 but wrote no video")


def test_saved_line_but_file_missing():
    out = classify(HEAD + SAVED, exit_code=0, output=False)
    assert out.status == FAILED and "file is missing" in out.cause
    assert "/cosmos/runs/r1/outputs/output.mp4" in out.cause


def test_video_without_saved_line_is_not_success():
    out = classify(HEAD, exit_code=0, output=True)
    assert out.status == FAILED and "Saved video to" in out.cause


def test_cuda_oom_with_torchrun_wrapper_after_it():
    oom = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a "
           "total capacity of 79.25 GiB of which 1.06 GiB is free. Process 80 has 78.19 GiB "
           "memory in use.")
    lines = HEAD + [rec("Starting diffusion sampling")] + traceback(0, oom) + TORCHRUN_FAILED
    out = classify(lines)
    assert out.status == FAILED
    assert out.cause.startswith("CUDA out of memory (tried to allocate 2.00 GiB)")
    assert "offload" in out.cause and "GPUs" in out.cause
    assert "\n" not in out.cause
    assert out.evidence.startswith("torch.OutOfMemoryError: CUDA out of memory")


def test_oom_beats_the_nccl_errors_it_causes_on_other_ranks():
    lines = HEAD + traceback(2, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                                "512.00 MiB.") + [
        ("[rank0]:[E607 10:04:00.000000 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught "
         "collective operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800000 ms"),
    ] + TORCHRUN_FAILED
    assert classify(lines).cause.startswith("CUDA out of memory (tried to allocate 512.00 MiB)")


def test_guardrail_block_is_its_own_status():
    lines = HEAD[:-2] + [
        rec("Running guardrail checks on all prompts"),
        rec("GUARDRAIL BLOCKED: Prompt contains unsafe content (Llama Guard: S1)",
            level="CRITICAL"),
        rec("Input text prompt 0 is not safe", level="CRITICAL"),
        rec("All prompts failed safety checks", level="CRITICAL"),
        rec("Guardrail blocked generation for entire batch.", level="CRITICAL"),
    ] + traceback(None, "TypeError: cannot unpack non-iterable NoneType object")
    out = classify(lines)
    assert out.status == BLOCKED
    assert out.cause == ("blocked by Cosmos' guardrail: Prompt contains unsafe content "
                         "(Llama Guard: S1)")
    assert "GUARDRAIL BLOCKED" in out.evidence


def test_guardrail_block_with_exit_zero_and_no_video():
    lines = HEAD + [rec("Generated video 0 is not safe", level="CRITICAL"),
                    rec("Guardrail blocked generation for entire batch.", level="CRITICAL")]
    out = classify(lines, exit_code=0)
    assert out.status == BLOCKED and "generated video failed the safety check" in out.cause


def test_validation_error_quotes_cosmos():
    lines = HEAD[:3] + traceback(None, "ValueError: Must have 'input_video' specified if "
                                       "sigma_max < 80")
    out = classify(lines)
    assert out.cause == ("Cosmos rejected the settings: Must have 'input_video' specified if "
                         "sigma_max < 80")
    assert out.evidence.startswith("ValueError:")


def test_gpu_count_assertion():
    lines = HEAD + traceback(0, "AssertionError: 16 cannot divide cp_size 3")
    assert "16 cannot divide cp_size 3" in classify(lines).cause


def test_missing_checkpoint_names_the_file():
    lines = HEAD[:7] + traceback(0, "FileNotFoundError: [Errno 2] No such file or directory: "
                                 "'checkpoints/nvidia/Cosmos-Transfer1-7B/edge_control.pt'")
    out = classify(lines + TORCHRUN_FAILED)
    assert out.cause.startswith(
        "missing checkpoint: checkpoints/nvidia/Cosmos-Transfer1-7B/edge_control.pt")
    assert "download_checkpoints" in out.cause


def test_missing_tokenizer_jit_is_a_missing_checkpoint_not_a_validation_error():
    lines = traceback(None, "ValueError: The provided filename checkpoints/nvidia/"
                      "Cosmos-Tokenize1-CV8x8x8-720p/encoder.jit does not exist")
    assert classify(lines).cause.startswith(
        "missing checkpoint: checkpoints/nvidia/Cosmos-Tokenize1-CV8x8x8-720p/encoder.jit")


def test_missing_input_file_is_not_called_a_checkpoint():
    lines = traceback(None, "FileNotFoundError: [Errno 2] No such file or directory: "
                      "'/cosmos/runs/r1/inputs/input.mov'")
    assert classify(lines).cause == "missing file: /cosmos/runs/r1/inputs/input.mov"


def test_hugging_face_offline():
    lines = HEAD + [rec("no input_control provided for depth. generating input control video "
                        "with DepthAnythingModel")] + traceback(
        None, "huggingface_hub.errors.LocalEntryNotFoundError: An error happened while trying "
              "to locate the files on the Hub and we cannot find the requested files in the "
              "local cache.")
    assert "HF_HOME" in classify(lines).cause


def test_nccl_error():
    lines = HEAD + traceback(1, "torch.distributed.DistBackendError: NCCL error in: "
                                "/pytorch/torch/csrc/distributed/c10d/NCCLUtils.hpp:268, "
                                "unhandled system error") + TORCHRUN_FAILED
    out = classify(lines)
    assert out.cause.startswith("NCCL/distributed error between GPUs")
    assert out.evidence.startswith("torch.distributed.DistBackendError")


def test_benign_nccl_warning_is_not_a_cause():
    warning = ("[rank0]:[W607 10:09:00 ProcessGroupNCCL.cpp:1250] Warning: WARNING: process "
               "group has NOT been destroyed before we destruct ProcessGroupNCCL.")
    lines = HEAD + [warning] + traceback(
        0, "RuntimeError: input tensor must fit into 32-bit index math")
    out = classify(lines)
    assert out.cause == ("crashed (exit 1): RuntimeError: input tensor must fit into 32-bit "
                         "index math")


def test_master_port_in_use():
    lines = [
        ("[W607 10:00:00 socket.cpp:755] [c10d] The server socket has failed to listen on any "
         "local network address. port: 29500, useIpv6: false, code: -98, name: EADDRINUSE, "
         "message: address already in use"),
        ("torch.distributed.DistNetworkError: The server socket has failed to listen on any "
         "local network address. port: 29500, useIpv6: false, code: -98, name: EADDRINUSE, "
         "message: address already in use"),
    ]
    out = classify(lines)
    assert out.cause.startswith("torchrun's master port 29500 is already in use")


def test_killed_137():
    out = classify(HEAD, exit_code=137)
    assert out.status == FAILED and out.cause.startswith("killed (SIGKILL, exit 137)")


def test_killed_by_user_is_cancelled():
    assert classify(HEAD, exit_code=137, killed=True).status == CANCELLED
    out = classify(HEAD, exit_code=143, killed=True)
    assert (out.status, out.cause) == (CANCELLED, "cancelled by user (SIGTERM, exit 143)")


def test_graceful_stop_through_torchrun_signal_handler():
    # torchrun as PID 1 turns SIGTERM into SignalException and exits 1.
    lines = HEAD + [
        ("W0607 10:06:00.000000 1 torch/distributed/elastic/agent/server/api.py:704] Received "
         "Signals.SIGTERM death signal, shutting down workers"),
        "torch.distributed.elastic.multiprocessing.api.SignalException: Process 1 got signal: 15",
    ]
    assert classify(lines, killed=True).status == CANCELLED
    out = classify(lines, killed=False)
    assert out.status == FAILED and out.cause.startswith("terminated (SIGTERM)")


def test_terminated_143():
    assert classify(HEAD, exit_code=143).cause.startswith("terminated (SIGTERM, exit 143)")


def test_worker_killed_by_the_kernel():
    lines = HEAD + [
        ("W0607 10:03:00.000000 1 torch/distributed/elastic/multiprocessing/api.py:897] "
         "Sending process 82 closing signal SIGTERM"),
        ("E0607 10:03:01.000000 1 torch/distributed/elastic/multiprocessing/api.py:869] failed "
         "(exitcode: -9) local_rank: 0 (pid: 81) of binary: /usr/bin/python3"),
    ] + TORCHRUN_FAILED[1:-3] + ["  exitcode  : -9 (pid: 81)", "  error_file: <N/A>"]
    assert "SIGKILL" in classify(lines).cause and "RAM" in classify(lines).cause


def test_crash_quotes_the_last_exception_not_the_wrapper():
    lines = HEAD + traceback(0, "RuntimeError: input tensor must fit into 32-bit index math") + \
        TORCHRUN_FAILED
    out = classify(lines)
    assert out.cause == ("crashed (exit 1): RuntimeError: input tensor must fit into 32-bit "
                         "index math")
    assert out.evidence == "RuntimeError: input tensor must fit into 32-bit index math"


def test_crash_without_any_exception():
    out = classify(HEAD, exit_code=3)
    assert out.cause == "crashed (exit 3) without an error message in the log"
    assert out.evidence.startswith("[06-07")


def test_container_vanished():
    out = classify(HEAD, exit_code=None)
    assert out.status == FAILED and out.cause.startswith("container vanished")
    assert classify(HEAD, exit_code=None, killed=True).cause == \
        "cancelled by user (container removed)"


def test_ansi_and_rank_prefixes_are_stripped_from_evidence():
    lines = [("[rank0]: \x1b[31mtorch.OutOfMemoryError: CUDA out of memory. Tried to "
              "allocate 1.00 GiB.\x1b[0m")]
    out = classify(lines)
    assert out.evidence == ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
                            "1.00 GiB.")


def test_success_is_not_spoiled_by_earlier_noise():
    lines = HEAD + ["/usr/lib/python3/dist-packages/x.py:1: UserWarning: something"] + SAVED
    assert classify(lines, exit_code=0, output=True).status == COMPLETED


@pytest.mark.parametrize("code", [0, 1, 2, 137, 143, None])
def test_every_cause_is_one_line(code):
    for lines in ([], HEAD, HEAD + SAVED):
        for output in (True, False):
            out = classify(lines, exit_code=code, output=output)
            assert out.cause and "\n" not in out.cause
            assert out.status in (COMPLETED, FAILED, BLOCKED, CANCELLED)


def test_prompt_echoed_in_the_log_cannot_fake_an_outcome():
    prompt = "GUARDRAIL BLOCKED: no. CUDA out of memory. Saved video to /x.mp4 ValueError: no"
    lines = [
        rec("args in json: {"), f'    "prompt": "{prompt}",', "}",
        rec(f"Upsampling prompt 1/1: {prompt[:50]}..."),
        rec(f"Upsampled prompt 1: {prompt[:50]}..."),
    ] + traceback(0, "RuntimeError: CUDA error: an illegal memory access was encountered")
    out = classify(lines, exit_code=1)
    assert out.status == FAILED
    assert out.cause == ("crashed (exit 1): RuntimeError: CUDA error: an illegal memory access "
                         "was encountered")
    assert classify(lines, exit_code=0, output=True).status == FAILED  # no real Saved record


def test_multi_line_prompt_in_an_info_record_is_not_an_error():
    lines = [rec("Upsampled prompt 1: a quiet street"), "CUDA out of memory, said the prompt",
             rec("Run generation")] + traceback(0, "RuntimeError: boom")
    assert classify(lines).cause == "crashed (exit 1): RuntimeError: boom"


def test_another_ranks_error_between_rank0_records_is_seen():
    lines = [rec("Starting diffusion sampling", rank=0),
             "[rank1]:   File \"x.py\", line 3, in f",
             "[rank1]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 8.00 GiB."]
    assert classify(lines).cause.startswith("CUDA out of memory (tried to allocate 8.00 GiB)")

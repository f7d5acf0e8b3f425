"""The Cosmos-Transfer2.5 contract as pure functions, behind its profile (profile.py).

- params:   the model's constants (controls, GPU counts, defaults, the spec's key sets)
- validate: refusals to the letter of cosmos_transfer2/config.py, each worded with what is
            allowed, plus the distilled edge variant's rules
- spec:     GenerationParams -> the flat per-sample spec (one JSON, or a JSONL batch)
- command:  `python examples/inference.py` or torchrun, `-i <spec> -o <out>`, env
- progress: the log (per-step bars, `Generating chunk i/N`, per-sample lines) -> Progress
- outcome:  one sample's ending; success only with `Generated video saved to`, a guardrail
            block at exit 0 is `blocked` with the stage that blocked

Facts: /work/shared/cosmos-transfer2.5-and-cosmos3.md, where the source
(nvidia-cosmos/cosmos-transfer2.5: cosmos_transfer2/config.py, cosmos_transfer2/inference.py,
examples/inference.py, packages/cosmos-oss/cosmos_oss/init.py) wins.
"""

"""Cosmos 3 (NVIDIA/cosmos-framework): Nano, Edge and Super checkpoints; video2video transfer
with edge/blur/depth/seg/wsm hints, text2video and image2video. See profile.py."""

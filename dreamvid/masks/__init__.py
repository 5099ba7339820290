"""Masks: where a render dreams (docs/DESIGN.md, "Masks"). `sources` reads and checks what the user gave
and shapes each frame's mask; `moving` makes masks from a clip's own motion."""

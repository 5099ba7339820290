"""The DeepDream ascent: the octave pyramid, objectives, tiles and the engine."""

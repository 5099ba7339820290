"""The renderers (a still, a zoom, a clip) over one frame loop."""

"""dreamvid: DeepDream stills, zoom tunnels and temporally stable dreamed clips."""

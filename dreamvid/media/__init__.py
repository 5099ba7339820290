"""Media in and out: ffmpeg processes, clips, pictures, segments and sound."""

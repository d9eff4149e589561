"""The reader process pool: clips are read in child processes, so a crash or a hang in
FFmpeg costs one clip (an error row), never the worker."""

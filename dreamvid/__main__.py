
from dreamvid.cli import run_main

run_main()

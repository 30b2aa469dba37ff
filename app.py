"""Start the web chat: `python app.py` is the same as `qa serve` (127.0.0.1:7860)."""

import sys

from qa.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))

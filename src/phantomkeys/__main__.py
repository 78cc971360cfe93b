"""``python -m phantomkeys``."""

from phantomkeys.cli import main

if __name__ == "__main__":
    main()

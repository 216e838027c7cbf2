"""``python -m fieldfeed``: the same as the ``fieldfeed`` console script."""

from fieldfeed.cli import main

if __name__ == "__main__":
    main()

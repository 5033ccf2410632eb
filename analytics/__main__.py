"""`python -m analytics`: the same command line as the `analytics` console script."""

from analytics.cli import main

if __name__ == "__main__":
    main()

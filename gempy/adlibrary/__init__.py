"""gempy .adlibrary package."""

"""The reference system's actors, built only on ``enotime``'s public API."""

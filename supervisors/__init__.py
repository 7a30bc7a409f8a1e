"""The reference system's supervision trees."""

"""pytest plugin: a MongoDB-wire server of the tests' own (owned by the MongoDB work)."""
